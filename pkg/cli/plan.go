package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newPlanCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("plan is not built yet")
		},
	}
}
