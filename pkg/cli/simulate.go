package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newSimulateCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "simulate",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("simulate is not built yet")
		},
	}
}
