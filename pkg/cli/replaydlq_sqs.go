package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// sqsReplayOptions are replay-dlq's SQS flags.
type sqsReplayOptions struct {
	queueURL  string
	sourceURL string
	stage     string
}

// withSQSReplay adds --queue-url, --to and --stage to replay-dlq: with
// --queue-url or --stage the command works on an SQS dead-letter queue of
// the AWS runtime instead of the embedded store, with the same filters
// (--delivery-id, --target, --limit), --yes and --format.
func withSQSReplay(cmd *cobra.Command, s Streams) *cobra.Command {
	o := &sqsReplayOptions{}
	f := cmd.Flags()
	f.StringVar(&o.queueURL, "queue-url", "", "SQS dead-letter queue `URL` (AWS runtime) instead of the embedded store")
	f.StringVar(&o.sourceURL, "to", "", "SQS queue `URL` --yes redrives to (default: --queue-url without its -dlq suffix)")
	f.StringVar(&o.stage, "stage", "", "`STAGE` whose SQS DLQ to use: planner (DISPATCH_REQUESTS_DLQ_URL) or dispatcher (DISPATCH_TARGETS_DLQ_URL)")
	cmd.Example += `

  # the AWS runtime: the targets DLQ named by DISPATCH_TARGETS_DLQ_URL
  dispatcher replay-dlq --stage dispatcher
  dispatcher replay-dlq --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/dispatcher-targets-dlq --delivery-id ID --yes`
	local := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if o.queueURL == "" && o.stage == "" {
			return local(c, args)
		}
		return runReplaySQS(c, s, o)
	}
	return cmd
}

// sqsReplayReport is the JSON answer of replay-dlq on SQS.
type sqsReplayReport struct {
	Queue    string                `json:"queue"`
	Depth    int                   `json:"depth"`
	DryRun   bool                  `json:"dry_run"`
	Matching []awsinfra.DeadLetter `json:"matching"`
	Moved    int                   `json:"moved"`
}

func runReplaySQS(cmd *cobra.Command, s Streams, o *sqsReplayOptions) error {
	ctx := cmd.Context()
	flags := cmd.Flags()
	for _, name := range []string{"db", "id", "inspect"} {
		if flags.Changed(name) {
			return usageErrorf("--%s applies to the embedded store, not to an SQS queue", name)
		}
	}
	format, _ := flags.GetString("format")
	if format != "text" && format != "json" {
		return usageErrorf("--format %q: want text or json", format)
	}
	deliveryID, _ := flags.GetString("delivery-id")
	target, _ := flags.GetString("target")
	limit, _ := flags.GetInt("limit")
	yes, _ := flags.GetBool("yes")
	if limit < 0 {
		return usageErrorf("--limit must be 0 (all) or more")
	}
	if repo, _, _ := strings.Cut(target, ":"); target != "" && strings.Count(repo, "/") != 1 {
		return usageErrorf("--target %q: expected OWNER/NAME or OWNER/NAME:WORKFLOW", target)
	}

	dlqURL, sourceURL := o.queueURL, o.sourceURL
	if o.stage != "" {
		if o.queueURL != "" {
			return usageErrorf("--stage and --queue-url cannot be used together")
		}
		st, err := settings.Load(s.Getenv)
		if err != nil {
			return &UsageError{Err: err}
		}
		switch o.stage {
		case settings.ModePlanner:
			dlqURL, sourceURL = st.RequestsDLQURL, orDefault(sourceURL, st.RequestsQueueURL)
		case settings.ModeDispatcher:
			dlqURL, sourceURL = st.TargetsDLQURL, orDefault(sourceURL, st.TargetsQueueURL)
		default:
			return usageErrorf("--stage %q: want planner or dispatcher", o.stage)
		}
		if dlqURL == "" {
			return usageErrorf("--stage %s: the DLQ URL variable (DISPATCH_REQUESTS_DLQ_URL or DISPATCH_TARGETS_DLQ_URL) is not set", o.stage)
		}
	}
	if sourceURL == "" {
		if !strings.HasSuffix(dlqURL, "-dlq") {
			return usageErrorf("cannot tell the source queue of %s: name it with --to", dlqURL)
		}
		sourceURL = strings.TrimSuffix(dlqURL, "-dlq")
	}

	cfg, err := awsinfra.LoadConfig(ctx)
	if err != nil {
		return err
	}
	dlq := awsinfra.NewDLQ(sqs.NewFromConfig(cfg), dlqURL, sourceURL)
	keep := func(m awsinfra.DeadLetter) bool { return matchDeadLetter(m, deliveryID, target) }
	rep := sqsReplayReport{Queue: dlqURL, DryRun: !yes}
	if rep.Depth, err = dlq.Depth(ctx); err != nil {
		return err
	}
	sample, err := dlq.Peek(ctx, max(limit, 10))
	if err != nil {
		return err
	}
	for _, m := range sample {
		if keep(m) && (limit == 0 || len(rep.Matching) < limit) {
			rep.Matching = append(rep.Matching, m)
		}
	}
	if yes {
		var progress func(awsinfra.RedriveResult)
		if s.ErrTTY {
			progress = func(r awsinfra.RedriveResult) { fmt.Fprintf(s.Err, "\rredriving… %d moved", r.Moved) }
		}
		res, err := dlq.Redrive(ctx, keep, limit, 30, progress)
		if s.ErrTTY && res.Moved > 0 {
			fmt.Fprintln(s.Err)
		}
		rep.Moved = res.Moved
		if err != nil {
			return fmt.Errorf("replay-dlq: %d moved before the error: %w", res.Moved, err)
		}
	}
	if format == "json" {
		return writeJSON(s.Out, rep)
	}
	return writeSQSReplayText(s.Out, rep, sourceURL)
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// matchDeadLetter applies replay-dlq's filters to an SQS dead letter:
// --delivery-id exactly, --target OWNER/NAME[:WORKFLOW] case-insensitively
// against the message's target attribute ("owner/name/workflow").
func matchDeadLetter(m awsinfra.DeadLetter, deliveryID, target string) bool {
	if deliveryID != "" && m.DeliveryID != deliveryID {
		return false
	}
	if target == "" {
		return true
	}
	repo, workflow, _ := strings.Cut(target, ":")
	i := strings.LastIndexByte(m.Target, '/')
	if i < 0 || !strings.EqualFold(m.Target[:i], repo) {
		return false
	}
	return workflow == "" || strings.EqualFold(m.Target[i+1:], workflow)
}

func writeSQSReplayText(w io.Writer, rep sqsReplayReport, sourceURL string) error {
	name := rep.Queue[strings.LastIndexByte(rep.Queue, '/')+1:]
	fmt.Fprintf(w, "%s: %d messages; %d matching in the sample read\n", name, rep.Depth, len(rep.Matching))
	if len(rep.Matching) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MESSAGE\tDELIVERY\tTARGET\tRECEIVES\tLAST ERROR")
		for _, m := range rep.Matching {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", m.MessageID, orDefault(m.DeliveryID, "-"), orDefault(m.Target, "-"), m.ReceiveCount, orDefault(m.LastError, "-"))
		}
		tw.Flush()
	}
	if rep.DryRun {
		fmt.Fprintf(w, "dry run: --yes moves the matching messages to %s\n", sourceURL[strings.LastIndexByte(sourceURL, '/')+1:])
		return nil
	}
	fmt.Fprintf(w, "moved %d messages to %s\n", rep.Moved, sourceURL[strings.LastIndexByte(sourceURL, '/')+1:])
	return nil
}
