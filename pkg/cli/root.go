package cli

import (
	"github.com/spf13/cobra"
)

// newRootCmd builds the command tree.
func newRootCmd(s Streams, info BuildInfo) *cobra.Command {
	root := &cobra.Command{
		Use:   "dispatcher",
		Short: "Dispatch GitHub Actions workflows across repositories",
		Long: `dispatcher dispatches GitHub Actions workflows across repositories.

When a workflow run completes in a source repository, dispatcher reads
dispatching.yml in the source repository (outbound rules) and in each target
repository (inbound rules), and dispatches only what both sides allow and what
the operator's guardrails permit.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	color := colorAuto
	s.color = &color
	root.PersistentFlags().Var(&color, "color", "use colour `WHEN`: auto, always or never (auto: on a terminal, unless NO_COLOR is set or TERM=dumb)")
	root.SetFlagErrorFunc(usageFlagError)
	// dispatcher --version, as gh and terraform have; same line as "dispatcher version".
	root.Version = info.Version
	root.SetVersionTemplate(versionLine(info) + "\n")
	root.AddCommand(
		newVersionCmd(s, info),
		newCompletionCmd(s),
		newValidateCmd(s, info),
		newSimulateCmd(s),
		newPlanCmd(s),
		newServeCmd(s, info),
		withSQSReplay(newReplayDLQCmd(s), s),
		newStatusCmd(s),
		newTraceCmd(s),
		newLambdaCmd(s, info),
	)
	registerFlagCompletions(root)
	return root
}
