package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newReplayDLQCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "replay-dlq",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("replay-dlq is not built yet")
		},
	}
}
