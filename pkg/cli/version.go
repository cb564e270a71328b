package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

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

// Placeholders main uses when the linker did not set the build
// information (a plain go build or go install).
const (
	unsetVersion = "dev"
	unsetCommit  = "none"
	unsetDate    = "unknown"
)

// WithEmbedded fills the fields the linker left at their placeholders
// ("dev", "none", "unknown", or empty) from what the Go toolchain embeds in
// every binary (runtime/debug.ReadBuildInfo): the module version of a
// "go install …@vX.Y.Z", and the VCS revision, time and modified flag of a
// build inside a git checkout. Fields set by -ldflags are kept.
func (b BuildInfo) WithEmbedded() BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	return b.fillFrom(bi)
}

// fillFrom is WithEmbedded with the build information given.
func (b BuildInfo) fillFrom(bi *debug.BuildInfo) BuildInfo {
	if bi == nil {
		return b
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if b.Version == "" || b.Version == unsetVersion {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
	}
	if b.Commit == "" || b.Commit == unsetCommit {
		if rev := settings["vcs.revision"]; rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if settings["vcs.modified"] == "true" {
				rev += "-dirty"
			}
			b.Commit = rev
		}
	}
	if b.Date == "" || b.Date == unsetDate {
		if t := settings["vcs.time"]; t != "" {
			b.Date = t
		}
	}
	return b
}
