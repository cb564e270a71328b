package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IssueSource describes the source run of a result issue.
type IssueSource struct {
	Repository     string // "owner/name"; the issue is opened here
	InstallationID int64
	DeliveryID     string
	Workflow       string // base name
	WorkflowPath   string // workflow_run.path
	RunID          int64
	RunURL         string // workflow_run.html_url
}

// Limits of the issue text (GitHub caps an issue body at 65,536 characters).
const (
	maxIssueLineText = 300 // an error message or denial detail
	maxIssueLines    = 200 // outcome and denial lines together
	maxIssueBody     = 60000
)

// FormatIssue returns the title and Markdown body of the result issue of a
// delivery: a "Source Workflow" section, a "Dispatch Outcomes" section with
// one line per dispatch (with GitHub's message for failures) and an
// "Authorization Denials" section with one line per denied target (reason
// code and the rule or file that decided). Outcomes are listed in plan
// order.
func FormatIssue(src IssueSource, outcomes []Outcome) (title, body string) {
	outs := append([]Outcome(nil), outcomes...)
	sort.SliceStable(outs, func(i, j int) bool { return outs[i].Index < outs[j].Index })
	var ok, failed, denied []Outcome
	for _, o := range outs {
		switch o.Status {
		case OutcomeSuccess:
			ok = append(ok, o)
		case OutcomeFailed:
			failed = append(failed, o)
		default:
			denied = append(denied, o)
		}
	}
	title = fmt.Sprintf("Dispatch results: %s (success=%d, failed=%d, denied=%d)",
		src.Workflow, len(ok), len(failed), len(denied))

	var b strings.Builder
	b.WriteString("## Source Workflow\n\n")
	if src.Repository != "" {
		fmt.Fprintf(&b, "- Repository: %s\n", src.Repository)
	}
	fmt.Fprintf(&b, "- Workflow: %s\n", src.Workflow)
	fmt.Fprintf(&b, "- Path: %s\n", src.WorkflowPath)
	if src.RunID != 0 {
		fmt.Fprintf(&b, "- Run ID: %d\n", src.RunID)
	}
	if src.RunURL != "" {
		fmt.Fprintf(&b, "- Run URL: %s\n", src.RunURL)
	}
	if src.DeliveryID != "" {
		fmt.Fprintf(&b, "- Delivery: %s\n", src.DeliveryID)
	}

	lines := 0
	more := func(rest int) bool {
		if lines < maxIssueLines && b.Len() < maxIssueBody {
			lines++
			return false
		}
		fmt.Fprintf(&b, "- … %d more not shown\n", rest)
		return true
	}
	b.WriteString("\n## Dispatch Outcomes\n\n")
	dispatched := append(ok, failed...)
	sort.SliceStable(dispatched, func(i, j int) bool { return dispatched[i].Index < dispatched[j].Index })
	if len(dispatched) == 0 {
		b.WriteString("- No dispatch was attempted.\n")
	}
	for i, o := range dispatched {
		if more(len(dispatched) - i) {
			break
		}
		if o.Status == OutcomeSuccess {
			fmt.Fprintf(&b, "- SUCCESS %s :: %s (attempts=%d)", o.Repository, o.Workflow, max(o.Attempts, 1))
			if o.RunURL != "" {
				fmt.Fprintf(&b, ", run %s", o.RunURL)
			}
		} else {
			fmt.Fprintf(&b, "- FAILED %s :: %s (attempts=%d)", o.Repository, o.Workflow, max(o.Attempts, 1))
			if o.Error != "" {
				fmt.Fprintf(&b, ": %s", oneLine(o.Error))
			}
		}
		b.WriteByte('\n')
	}

	b.WriteString("\n## Authorization Denials\n\n")
	if len(denied) == 0 {
		b.WriteString("- None\n")
	}
	for i, o := range denied {
		if more(len(denied) - i) {
			break
		}
		fmt.Fprintf(&b, "- DENIED %s :: %s (%s)", o.Repository, o.Workflow, o.Reason)
		if o.Detail != "" {
			fmt.Fprintf(&b, ": %s", oneLine(o.Detail))
		}
		b.WriteByte('\n')
	}
	return title, b.String()
}

// oneLine flattens s to one bounded line so that a message cannot break
// the list structure.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxIssueLineText {
		s = string(r[:maxIssueLineText]) + "…"
	}
	return s
}

// IssueClaimKey is the claim key that makes the result issue of a delivery
// exactly-once.
func IssueClaimKey(deliveryID string) string { return "issue#" + deliveryID }

// reporter writes result issues.
type reporter struct {
	issues   IssueCreator
	outcomes Outcomes
	claims   Claims
	now      func() time.Time
}

func (r reporter) enabled() bool { return r.issues != nil && r.outcomes != nil && r.claims != nil }

// record stores one final outcome of a work item and writes the issue when
// it was the last one missing. Failures are logged, never returned: the
// issue is a courtesy, not part of the dispatch.
func (r reporter) record(ctx context.Context, w WorkItem, o Outcome, log *slog.Logger) {
	if w.Report == nil || !r.enabled() {
		return
	}
	o.Index = w.Report.Index
	all, err := r.outcomes.Put(ctx, w.DeliveryID, o)
	if err != nil {
		log.Error("store target outcome failed; no result issue for this delivery", "error", err)
		return
	}
	seen := map[int]bool{}
	failures := false
	for _, x := range all {
		seen[x.Index] = true
		failures = failures || x.Status != OutcomeSuccess
	}
	if len(seen) < w.Report.Targets || !failures {
		return
	}
	r.createIssue(ctx, IssueSource{
		Repository:     w.Source.Repository,
		InstallationID: w.InstallationID,
		DeliveryID:     w.DeliveryID,
		Workflow:       w.Source.Workflow,
		WorkflowPath:   w.Report.WorkflowPath,
		RunID:          w.Source.RunID,
		RunURL:         w.Report.RunURL,
	}, all, log)
}

// createIssue opens the result issue once per delivery.
func (r reporter) createIssue(ctx context.Context, src IssueSource, outs []Outcome, log *slog.Logger) {
	if !r.enabled() {
		return
	}
	key := IssueClaimKey(src.DeliveryID)
	c, err := r.claims.Claim(ctx, key, r.now())
	if err != nil {
		log.Error("claim result issue failed; no result issue", "error", err)
		return
	}
	if c.State != ClaimAcquired {
		// Done, or another attempt is writing it (or died while doing so:
		// better no second issue than two).
		return
	}
	title, body := FormatIssue(src, outs)
	if err := r.issues.CreateIssue(ctx, src.InstallationID, src.Repository, title, body); err != nil {
		log.Error("create result issue failed", "repository", src.Repository, "error", err)
		if _, err := r.claims.Release(ctx, key, c.ClaimedAt); err != nil {
			log.Warn("release result issue claim failed", "error", err)
		}
		return
	}
	if err := r.claims.Complete(ctx, key, DispatchResult{Attempts: 1}); err != nil {
		log.Warn("complete result issue claim failed", "error", err)
	}
	log.Info("result issue created", "repository", src.Repository, "title", title, "outcomes", strconv.Itoa(len(outs)))
}
