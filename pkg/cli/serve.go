package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newServeCmd(s Streams, info BuildInfo) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("serve is not built yet")
		},
	}
}
