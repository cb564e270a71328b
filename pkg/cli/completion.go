package cli

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// flagValueCompletions are the values offered for flags that take one of a
// fixed set, by flag name, where the command itself registered none.
// Commands whose flags follow the usage convention "`FORMAT`: a, b or c"
// need no entry: flagCompletionFromUsage reads the values from the usage.
var flagValueCompletions = map[string][]string{
	"conclusion": simulateConclusions,
	"color":      {string(colorAuto), string(colorAlways), string(colorNever)},
}

// noFileFlags take values that are not files (names, ids, addresses): the
// shell must not offer files for them.
var noFileFlags = map[string]bool{
	"repo": true, "run": true, "workflow": true, "branch": true, "sha": true,
	"addr": true, "delivery-id": true, "target": true, "id": true, "limit": true,
	"inspect": true, "timeout": true, "color": true,
}

// registerFlagCompletions walks the command tree and gives every flag that
// has no completion yet the right one: the fixed values of --format,
// --queue, --conclusion and --color; directories only for --world; JSON
// files for --event; nothing for names and numbers. Run once the tree is
// built, so that commands added by any file are covered.
func registerFlagCompletions(root *cobra.Command) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		register := func(f *pflag.Flag) {
			if _, ok := cmd.GetFlagCompletionFunc(f.Name); ok {
				return
			}
			switch {
			case f.Name == "world":
				_ = cmd.MarkFlagDirname(f.Name)
				return
			case f.Name == "event":
				_ = cmd.MarkFlagFilename(f.Name, "json")
				return
			}
			values := flagValueCompletions[f.Name]
			if values == nil {
				values = flagCompletionFromUsage(f.Usage)
			}
			switch {
			case values != nil:
				_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			case noFileFlags[f.Name]:
				_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.NoFileCompletions)
			}
		}
		cmd.Flags().VisitAll(register)
		cmd.PersistentFlags().VisitAll(register)
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}

// flagCompletionUsageRE reads the values from a usage such as "output
// `FORMAT`: text, json or sarif" or "`QUEUE` whose dead letters to use:
// requests, targets or all".
var flagCompletionUsageRE = regexp.MustCompile("`[A-Z]+`[^:]*: ([a-z][a-z_-]*(?:, [a-z][a-z_-]*)* or [a-z][a-z_-]*)$")

// flagCompletionFromUsage returns the values a usage lists, or nil.
func flagCompletionFromUsage(usage string) []string {
	m := flagCompletionUsageRE.FindStringSubmatch(usage)
	if m == nil {
		return nil
	}
	list := strings.Replace(m[1], " or ", ", ", 1)
	return strings.Split(list, ", ")
}
