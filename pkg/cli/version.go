package cli

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(s Streams, info BuildInfo) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print build information",
		Example: `  dispatcher version
  dispatcher version --format json`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch format {
			case "text":
				fmt.Fprintln(s.Out, versionLine(info))
				return nil
			case "json":
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					BuildInfo
					GoVersion string `json:"go_version"`
					Platform  string `json:"platform"`
				}{info, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH})
			default:
				return usageErrorf("--format: unknown format %q (expected text or json)", format)
			}
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output `FORMAT`: text or json")
	return cmd
}

// versionLine is the text form of the build information.
func versionLine(info BuildInfo) string {
	return fmt.Sprintf("dispatcher %s (commit %s, built %s, %s %s/%s)",
		info.Version, info.Commit, info.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
