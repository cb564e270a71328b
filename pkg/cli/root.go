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
	root.SetFlagErrorFunc(usageFlagError)
	// dispatcher --version, as gh and terraform have; same line as "dispatcher version".
	root.Version = info.Version
	root.SetVersionTemplate(versionLine(info) + "\n")
	root.AddCommand(
		newVersionCmd(s, info),
		newCompletionCmd(s),
		newValidateCmd(s),
		newSimulateCmd(s),
		newPlanCmd(s),
		newServeCmd(s, info),
		withSQSReplay(newReplayDLQCmd(s), s),
		newLambdaCmd(s, info),
	)
	return root
}
