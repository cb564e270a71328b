package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// replayQueues are the embedded store's queues that have a dead-letter
// queue, in the order they are listed and redriven.
var replayQueues = []string{"requests", "targets"}

// replayBatch is how many dead letters one redrive transaction moves; the
// progress line advances after each batch.
const replayBatch = 50

type replayOptions struct {
	db         string
	queue      string
	deliveryID string
	target     string
	ids        []int64
	limit      int
	format     string
	yes        bool
	inspect    int64
}

func newReplayDLQCmd(s Streams) *cobra.Command {
	o := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay-dlq [--yes] [filters]",
		Short: "List, inspect and redrive dead-lettered messages of the embedded store",
		Long: `List, inspect and redrive the dead-lettered messages of the embedded store
(the SQLite file of "dispatcher serve"). A message is dead-lettered after
QUEUE_MAX_RECEIVES failed receives, or at once after a permanent GitHub error
(a 404 or 422 from workflow_dispatch, for example a missing target workflow).

By default replay-dlq is a dry run: it lists the dead letters that match the
filters and what --yes would move. With --yes it moves them back to their
queue (requests or targets), visible at once with their receive count reset;
a running serve picks them up on its next poll. Fix the cause first (create
the workflow, install the App, correct dispatching.yml), then replay.

Replay is safe: every dispatch is guarded by an idempotency record keyed by
(source repository, run id, run attempt, target repository, target
workflow). A replayed work item whose dispatch already happened is
acknowledged without dispatching again; only work that never reached GitHub
is dispatched. Replaying the same message twice is harmless.

Filters combine (all must match): --delivery-id, --target OWNER/NAME or
OWNER/NAME:WORKFLOW (case-insensitive; only targets-queue messages have a
target), --id (repeatable) and --limit (oldest dead letters first).

The store is --db, else DISPATCHER_DB, else ./dispatcher.db; replay-dlq
never creates one. It may run while serve is running on the same file.
Exit status: 0 when the listing or the move succeeded (also when nothing
matched, said on stderr), 1 when a move failed, 2 for a usage error or a
missing store. SQS (the AWS runtime) is not supported yet.`,
		Example: `  # what is dead-lettered, and why?
  dispatcher replay-dlq

  # one message in full: body, receive count, last error, times
  dispatcher replay-dlq inspect 42

  # after creating the missing workflow in acme/deploy, replay its work items
  dispatcher replay-dlq --target acme/deploy:cd.yml          # dry run: what would move
  dispatcher replay-dlq --target acme/deploy:cd.yml --yes    # move them back

  # everything of one webhook delivery, as JSON
  dispatcher replay-dlq --delivery-id 72d3162e-cc78-11e3-81ab-4c9367dc0958 --format json

  # the five oldest dead letters of the targets queue of another store
  dispatcher replay-dlq --db /var/lib/dispatcher/dispatcher.db --queue targets --limit 5 --yes`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("inspect") {
				if o.yes {
					return usageErrorf("--inspect and --yes cannot be used together")
				}
				return runReplayInspect(cmd.Context(), s, o, o.inspect)
			}
			return runReplay(cmd.Context(), s, o)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.db, "db", "", "`PATH` of the store file (default: DISPATCHER_DB, else ./dispatcher.db)")
	pf.StringVar(&o.queue, "queue", "all", "`QUEUE` whose dead letters to use: requests, targets or all")
	pf.StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	f := cmd.Flags()
	f.StringVar(&o.deliveryID, "delivery-id", "", "only messages of this webhook delivery `ID` (X-GitHub-Delivery)")
	f.StringVar(&o.target, "target", "", "only work items for `OWNER/NAME[:WORKFLOW]`")
	f.Int64SliceVar(&o.ids, "id", nil, "only the message with this `ID` (repeatable, or comma-separated)")
	f.Lookup("id").DefValue = "" // no "(default [])" in the help
	f.IntVar(&o.limit, "limit", 0, "at most `N` messages, oldest dead letters first (0 = all)")
	f.BoolVar(&o.yes, "yes", false, "move the matching messages back to their queue (default: dry run)")
	f.Int64Var(&o.inspect, "inspect", 0, "show the dead letter `ID` in full (same as the inspect subcommand)")
	cmd.AddCommand(&cobra.Command{
		Use:   "inspect ID",
		Short: "Show one dead-lettered message in full",
		Long: `Show one dead-lettered message: its queue, delivery and target, receive and
redrive counts, last error, the times it was enqueued, last received and
dead-lettered, and its body (pretty-printed JSON). Nothing is changed.`,
		Example: `  dispatcher replay-dlq inspect 42
  dispatcher replay-dlq inspect 42 --format json | jq .body`,
		Args: usageExactlyOne("message ID", "a number from the listing of dispatcher replay-dlq"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageErrorf("inspect: %q is not a message id (a positive number from the listing)", args[0])
			}
			return runReplayInspect(cmd.Context(), s, o, id)
		},
	})
	return cmd
}

// replayFilter validates the flags and builds the store filter.
func (o *replayOptions) filter() (local.Filter, error) {
	f := local.Filter{DeliveryID: strings.TrimSpace(o.deliveryID), IDs: o.ids, Limit: o.limit}
	if o.limit < 0 {
		return f, usageErrorf("--limit %d: must be 0 (no limit) or more", o.limit)
	}
	for _, id := range o.ids {
		if id <= 0 {
			return f, usageErrorf("--id %d: message ids are positive", id)
		}
	}
	if o.target != "" {
		repo, wf, _ := strings.Cut(o.target, ":")
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") || strings.Contains(o.target, ":") && wf == "" {
			return f, usageErrorf("--target %q: expected OWNER/NAME or OWNER/NAME:WORKFLOW (e.g. acme/deploy:cd.yml)", o.target)
		}
		f.TargetRepo, f.TargetWorkflow = repo, wf
	}
	return f, nil
}

// queues returns the queues --queue names.
func (o *replayOptions) queues() ([]string, error) {
	switch o.queue {
	case "all":
		return replayQueues, nil
	case "requests", "targets":
		return []string{o.queue}, nil
	}
	return nil, usageErrorf("--queue %q: expected requests, targets or all", o.queue)
}

// openReplayStore opens the existing store named by --db, DISPATCHER_DB or
// the default; a missing file is a usage error (an empty store would list
// nothing and hide the mistake).
func openReplayStore(ctx context.Context, s Streams, o *replayOptions) (*local.Store, error) {
	switch o.format {
	case "text", "json":
	default:
		return nil, usageErrorf("--format: unknown format %q (expected text or json)", o.format)
	}
	path, source, err := storePath(s, o.db)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, usageErrorf("no store at %s (use --db or DISPATCHER_DB to name the file serve uses; replay-dlq never creates one)", path)
	case err != nil:
		return nil, usageErrorf("%s %s: %v", source, path, validateFSCause(err))
	case st.IsDir():
		return nil, usageErrorf("%s %s: is a directory (expected the SQLite store file of dispatcher serve)", source, path)
	case !st.Mode().IsRegular():
		return nil, usageErrorf("%s %s: not a regular file (expected the SQLite store file of dispatcher serve)", source, path)
	case st.Size() == 0:
		// SQLite would take an empty file for an empty database and
		// write a schema into it.
		return nil, usageErrorf("%s %s: the file is empty, not a store (expected the SQLite store file of dispatcher serve)", source, path)
	}
	store, err := local.Open(ctx, path, local.Options{})
	if err != nil {
		return nil, storeOpenError(source, path, err)
	}
	return store, nil
}

// replayMessage is a dead letter as replay-dlq shows it (and its JSON
// form).
type replayMessage struct {
	ID             int64           `json:"id"`
	Queue          string          `json:"queue"`
	DeliveryID     string          `json:"delivery_id"`
	Target         string          `json:"target,omitempty"`
	ReceiveCount   int             `json:"receive_count"`
	RedriveCount   int             `json:"redrive_count"`
	LastError      string          `json:"last_error"`
	EnqueuedAt     time.Time       `json:"enqueued_at"`
	LastReceivedAt time.Time       `json:"last_received_at,omitzero"`
	DeadLetteredAt time.Time       `json:"dead_lettered_at,omitzero"`
	Body           json.RawMessage `json:"body,omitempty"`
}

func newReplayMessage(queue string, m local.Message, withBody bool) replayMessage {
	r := replayMessage{ID: m.ID, Queue: queue, DeliveryID: m.DeliveryID, ReceiveCount: m.ReceiveCount,
		RedriveCount: m.RedriveCount, LastError: m.LastError, EnqueuedAt: m.EnqueuedAt,
		LastReceivedAt: m.LastReceivedAt, DeadLetteredAt: m.DeadLetteredAt, Target: replayTarget(m)}
	if withBody {
		if json.Valid(m.Body) {
			r.Body = json.RawMessage(m.Body)
		} else {
			b, _ := json.Marshal(string(m.Body))
			r.Body = b
		}
	}
	return r
}

// replayTarget is "owner/name:workflow" as the work item spells it (the
// store's attributes are lower-case), or "" for a message without target.
func replayTarget(m local.Message) string {
	var v struct {
		Target struct {
			Repository string `json:"repository"`
			Workflow   string `json:"workflow"`
		} `json:"target"`
	}
	repo, wf := m.TargetRepo, m.TargetWorkflow
	if json.Unmarshal(m.Body, &v) == nil && v.Target.Repository != "" {
		repo, wf = v.Target.Repository, v.Target.Workflow
	}
	if repo == "" {
		return ""
	}
	if wf == "" {
		return repo
	}
	return repo + ":" + wf
}

// replayReport is the JSON answer of a listing or a move.
type replayReport struct {
	DryRun   bool            `json:"dry_run"`
	Matched  int             `json:"matched"`
	Moved    int             `json:"moved"`
	Error    string          `json:"error,omitempty"`
	Messages []replayMessage `json:"messages"`
}

func runReplay(ctx context.Context, s Streams, o *replayOptions) error {
	f, err := o.filter()
	if err != nil {
		return err
	}
	queues, err := o.queues()
	if err != nil {
		return err
	}
	store, err := openReplayStore(ctx, s, o)
	if err != nil {
		return err
	}
	defer store.Close()

	// List first: the dry run shows exactly this, and --yes moves exactly
	// these ids (a dead letter arriving meanwhile is not swept along).
	type found struct {
		queue string
		msg   local.Message
	}
	var all []found
	for _, q := range queues {
		ms, err := store.Queue(q).ListDLQ(ctx, f)
		if err != nil {
			return fmt.Errorf("list dead letters: %w", err)
		}
		for _, m := range ms {
			all = append(all, found{q, m})
		}
	}
	slices.SortStableFunc(all, func(a, b found) int {
		return cmp.Or(a.msg.DeadLetteredAt.Compare(b.msg.DeadLetteredAt), cmp.Compare(a.msg.ID, b.msg.ID))
	})
	if f.Limit > 0 && len(all) > f.Limit {
		all = all[:f.Limit]
	}
	rep := replayReport{DryRun: !o.yes, Matched: len(all), Messages: make([]replayMessage, 0, len(all))}
	for _, x := range all {
		rep.Messages = append(rep.Messages, newReplayMessage(x.queue, x.msg, false))
	}
	if len(all) == 0 {
		fmt.Fprintf(s.Err, "no dead letters match in %s\n", replayQueueNames(queues))
		if o.format == "json" {
			return writeJSON(s.Out, rep)
		}
		return nil
	}
	if !o.yes {
		if o.format == "json" {
			return writeJSON(s.Out, rep)
		}
		renderReplayTable(s, rep.Messages)
		fmt.Fprintf(s.Out, "dry run: %s would move back to %s; add --yes to move %s\n",
			replayCount(len(all)), replayDestinations(rep.Messages), replayThem(len(all)))
		return nil
	}

	// Move, batch by batch per queue, showing progress on a terminal.
	total := len(all)
	progress := s.ErrTTY
	moved := map[string]int{}
	var moveErr error
	for _, q := range queues {
		var ids []int64
		for _, x := range all {
			if x.queue == q {
				ids = append(ids, x.msg.ID)
			}
		}
		for start := 0; start < len(ids) && moveErr == nil; start += replayBatch {
			batch := ids[start:min(start+replayBatch, len(ids))]
			bf := f
			bf.IDs, bf.Limit = batch, 0
			ms, err := store.Queue(q).Redrive(ctx, bf)
			moved[q] += len(ms)
			rep.Moved += len(ms)
			if err != nil {
				moveErr = fmt.Errorf("move dead letters back to %s: %w", q, err)
			}
			if progress {
				fmt.Fprintf(s.Err, "\rmoving dead letters: %d/%d", rep.Moved, total)
			}
		}
	}
	if progress {
		fmt.Fprintln(s.Err)
	}
	if moveErr != nil {
		rep.Error = moveErr.Error()
	}
	if o.format == "json" {
		if err := writeJSON(s.Out, rep); err != nil {
			return err
		}
	} else {
		renderReplayTable(s, rep.Messages)
		for _, q := range queues {
			if moved[q] > 0 {
				fmt.Fprintf(s.Out, "moved %s back to %s\n", replayCount(moved[q]), q)
			}
		}
	}
	if moveErr != nil {
		fmt.Fprintf(s.Err, "dispatcher: %v (%d of %d moved; run the same command again to move the rest)\n", moveErr, rep.Moved, total)
		return ErrProblems
	}
	if rep.Moved < total {
		// Another process (a second replay-dlq) moved some meanwhile.
		fmt.Fprintf(s.Err, "%d of %d were no longer dead-lettered when moved\n", total-rep.Moved, total)
	}
	return nil
}

func runReplayInspect(ctx context.Context, s Streams, o *replayOptions, id int64) error {
	if id <= 0 {
		return usageErrorf("--inspect %d: not a message id (a positive number from the listing)", id)
	}
	queues, err := o.queues()
	if err != nil {
		return err
	}
	store, err := openReplayStore(ctx, s, o)
	if err != nil {
		return err
	}
	defer store.Close()
	for _, q := range queues {
		m, err := store.Queue(q).InspectDLQ(ctx, id)
		if errors.Is(err, local.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		rm := newReplayMessage(q, m, true)
		if o.format == "json" {
			return writeJSON(s.Out, rm)
		}
		renderReplayInspect(s.Out, rm)
		return nil
	}
	return usageErrorf("no dead letter %d in %s (list them with: dispatcher replay-dlq)", id, replayQueueNames(queues))
}

func renderReplayInspect(w io.Writer, m replayMessage) {
	row := func(k, v string) { fmt.Fprintf(w, "%-17s %s\n", k+":", v) }
	row("id", strconv.FormatInt(m.ID, 10))
	row("queue", m.Queue+" (dead letter in "+m.Queue+local.DLQSuffix+")")
	row("delivery", orDash(m.DeliveryID))
	row("target", orDash(m.Target))
	row("receives", strconv.Itoa(m.ReceiveCount))
	row("redrives", strconv.Itoa(m.RedriveCount))
	row("last error", orDash(m.LastError))
	row("enqueued at", replayTime(m.EnqueuedAt))
	row("last received at", replayTime(m.LastReceivedAt))
	row("dead-lettered at", replayTime(m.DeadLetteredAt))
	fmt.Fprintln(w, "body:")
	var buf bytes.Buffer
	var str string
	switch {
	case json.Unmarshal(m.Body, &str) == nil:
		buf.WriteString(str)
	case json.Indent(&buf, m.Body, "  ", "  ") == nil:
	default:
		buf.Write(m.Body)
	}
	fmt.Fprintf(w, "  %s\n", strings.TrimRight(buf.String(), "\n"))
}

func renderReplayTable(s Streams, ms []replayMessage) {
	color := s.Color(s.OutTTY)
	r := lipgloss.NewRenderer(s.Out)
	title, dim := r.NewStyle(), r.NewStyle()
	if color {
		title, dim = title.Bold(true), dim.Faint(true)
	}
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, []string{strconv.FormatInt(m.ID, 10), m.Queue, orDash(m.DeliveryID), orDash(m.Target),
			strconv.Itoa(m.ReceiveCount), replayShorten(orDash(m.LastError), 60), replayTime(m.DeadLetteredAt)})
	}
	tbl := table.New().
		Border(lipgloss.HiddenBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).BorderHeader(false).
		Headers("ID", "QUEUE", "DELIVERY", "TARGET", "RECEIVES", "LAST ERROR", "DEAD-LETTERED AT").
		Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			if row == table.HeaderRow {
				return title
			}
			if col == 5 {
				return dim
			}
			return r.NewStyle()
		})
	lines := strings.Split(tbl.Render(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	fmt.Fprintln(s.Out, strings.Join(lines, "\n"))
}

// replayShorten cuts s to n runes with an ellipsis, on one line.
func replayShorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func replayTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func replayCount(n int) string {
	if n == 1 {
		return "1 message"
	}
	return strconv.Itoa(n) + " messages"
}

func replayThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// replayDestinations names the queues the messages would go back to.
func replayDestinations(ms []replayMessage) string {
	var qs []string
	for _, m := range ms {
		if !slices.Contains(qs, m.Queue) {
			qs = append(qs, m.Queue)
		}
	}
	slices.Sort(qs)
	return strings.Join(qs, " and ")
}

func replayQueueNames(queues []string) string {
	names := make([]string, len(queues))
	for i, q := range queues {
		names[i] = q + local.DLQSuffix
	}
	return strings.Join(names, " and ")
}

// storePath is the store file a tool opens: the --db flag's value, else
// DISPATCHER_DB (else its default), with the name of where it came from
// for messages.
func storePath(s Streams, flag string) (path, source string, err error) {
	path, source = flag, "--db"
	if path == "" {
		source = "DISPATCHER_DB"
		cfg, err := settings.Load(s.Getenv)
		if err != nil {
			return "", "", &UsageError{Err: err}
		}
		path = cfg.DBPath
	}
	if strings.TrimSpace(path) == "" {
		return "", "", usageErrorf("--db must not be empty")
	}
	return path, source, nil
}
