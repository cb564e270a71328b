package cli

import (
	"github.com/spf13/cobra"
)

func newCompletionCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for the given shell.

The scripts are also committed under completions/ in the repository.`,
		Example: `  dispatcher completion bash > /etc/bash_completion.d/dispatcher
  dispatcher completion zsh > "${fpath[1]}/_dispatcher"
  dispatcher completion fish > ~/.config/fish/completions/dispatcher.fish`,
		Args:      usageExactlyOne("SHELL", "bash, zsh, fish or powershell"),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(s.Out, true)
			case "zsh":
				return root.GenZshCompletion(s.Out)
			case "fish":
				return root.GenFishCompletion(s.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(s.Out)
			default:
				return usageErrorf("completion: unknown shell %q (expected bash, zsh, fish or powershell)", args[0])
			}
		},
	}
}
