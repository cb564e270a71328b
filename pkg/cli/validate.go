package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(skeleton): replaced by the real command.
func newValidateCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("validate is not built yet")
		},
	}
}
