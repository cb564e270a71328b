package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// DefaultClaimLease is how long an in-progress dispatch claim belongs to
// the attempt that took it. A younger claim found in progress is assumed
// to be another live attempt (the item was delivered twice at once) and
// the message is retried after the lease; an older one is assumed dead.
const DefaultClaimLease = 5 * time.Minute

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	// Apply makes a step's effects durable (HandleWorkItem only; the
	// embedded runtime applies Dispatch's effects itself with the ack).
	Apply  Applier
	Claims Claims // required: Claim and TakeOver, made durable before the POST
	GitHub GitHub // required

	// Result issues: both set to write them (work items carry Report only
	// when the planner had CREATE_ISSUES on); Claims is shared.
	Issues   IssueCreator
	Outcomes Outcomes

	// ClaimLease is DefaultClaimLease when 0.
	ClaimLease time.Duration
	Now        func() time.Time // time.Now when nil
	Logger     *slog.Logger     // slog.Default() when nil
}

// Dispatcher is the dispatcher stage: one WorkItem in, at most one
// workflow_dispatch out.
type Dispatcher struct {
	c   DispatcherConfig
	rep reporter
}

// NewDispatcher builds a Dispatcher.
func NewDispatcher(c DispatcherConfig) (*Dispatcher, error) {
	if c.Apply == nil || c.Claims == nil || c.GitHub == nil {
		return nil, errors.New("dispatcher: applier, claims and GitHub are required")
	}
	if c.ClaimLease <= 0 {
		c.ClaimLease = DefaultClaimLease
	}
	c.Now = orNow(c.Now)
	c.Logger = orDefault(c.Logger)
	return &Dispatcher{c: c, rep: reporter{issues: c.Issues, outcomes: c.Outcomes, claims: c.Claims, now: c.Now}}, nil
}

// HandleWorkItem handles one message of the targets queue with Dispatch
// and applies the step's effects through the configured Applier (the AWS
// runtime). It returns the step's error; a failure to apply the effects is
// transient (the redelivery finds the claim and never dispatches twice).
func (s *Dispatcher) HandleWorkItem(ctx context.Context, body []byte, d Delivery) error {
	step := s.Dispatch(ctx, body, d)
	if !step.Empty() {
		if err := s.c.Apply.Apply(ctx, step.Effects); err != nil {
			if step.Err != nil {
				return fmt.Errorf("apply effects: %w (after: %w)", err, step.Err)
			}
			return fmt.Errorf("apply dispatch effects: %w", err)
		}
	}
	return step.Err
}

// Dispatch handles one message of the targets queue, exactly once per
// WorkItem.Key. The claim is taken (and durable) before the POST:
//
//   - the claim is Done: nothing is dispatched; the step repeats the
//     succeeded fact (same id) in case the first was lost;
//   - the claim is InProgress and younger than the lease: it may belong to
//     a live attempt; the step fails with RetryAfter = the rest of the
//     lease (ErrClaimBusy) without searching GitHub;
//   - the claim is InProgress and its lease has ended (a crash or an
//     ambiguous failure after the POST may have been sent): the claim is
//     taken over (Claims.TakeOver, which starts a new lease; an attempt
//     that loses the takeover retries after the lease), then GitHub is
//     searched for a workflow_dispatch run created since the first claim;
//     if one exists it is recorded as the result; if not, dispatch;
//   - the claim is Acquired: dispatch.
//
// The effects of a dispatch that happened: the target run's lineage, the
// claim completed and dispatch.trigger.succeeded. A permanent GitHub
// failure: the claim released (the lease this attempt holds),
// dispatch.trigger.failed with GitHub's message, and a permanent error
// (dead-letter now; a replay dispatches again). A transient failure
// releases the claim when the request certainly did not reach GitHub
// (IsAmbiguous false) and keeps it otherwise, and fails the step for a
// retry; trigger.failed is recorded only when d is the final receive.
func (s *Dispatcher) Dispatch(ctx context.Context, body []byte, d Delivery) Step {
	var w WorkItem
	if err := json.Unmarshal(body, &w); err != nil {
		return Step{Err: PermanentError("decode work item", err)}
	}
	if w.DeliveryID == "" || w.Source.Repository == "" || w.Target.Repository == "" || w.Target.Workflow == "" {
		return Step{Err: permanentf("decode work item", "delivery_id, source.repository, target.repository and target.workflow are required")}
	}
	log := s.c.Logger.With("correlation_id", w.DeliveryID, "stage", "dispatcher",
		"target_repo", w.Target.Repository, "target_workflow", w.Target.Workflow, "receive", d.ReceiveCount)
	step := s.dispatch(ctx, w, d, log)
	switch err := step.Err; {
	case err == nil:
	case IsPermanent(err):
		log.Error("work item failed permanently", "error", err)
	case errors.Is(err, ErrClaimBusy):
		log.Info("dispatch claimed by another attempt; retrying later", "retry_after", RetryAfterOf(err).String())
	case d.Final():
		log.Error("work item failed on its final receive; it goes to the dead-letter queue", "error", err)
	default:
		log.Warn("work item failed; it will be retried", "error", err)
	}
	return step
}

func (s *Dispatcher) dispatch(ctx context.Context, w WorkItem, d Delivery, log *slog.Logger) Step {
	key := w.Key()
	lease, found, step, done := s.acquire(ctx, w, log)
	if done {
		return step
	}
	if found != nil {
		return s.succeeded(ctx, w, *found, false, log)
	}
	res, err := s.c.GitHub.Dispatch(ctx, DispatchRequest{
		InstallationID: w.InstallationID,
		Repository:     w.Target.Repository,
		Workflow:       w.Target.Workflow,
		Ref:            w.Target.Ref,
		Inputs:         w.Target.Inputs,
	})
	if err == nil {
		log.Info("dispatched", "ref", w.Target.Ref, "attempts", res.Attempts, "target_run_id", res.RunID)
		return s.succeeded(ctx, w, res, false, log)
	}

	permanent := IsPermanent(err)
	var out Step
	if permanent || !IsAmbiguous(err) {
		// The dispatch certainly did not happen: forget the claim so that a
		// retry or a replay from the dead-letter queue dispatches.
		out.Release = &ClaimRelease{Key: key, LeasedAt: lease}
	}
	if permanent || d.Final() {
		s.failed(ctx, &out, w, err, log)
	}
	if permanent {
		out.Err = PermanentError("dispatch "+w.Target.Repository+" "+w.Target.Workflow, err)
	} else {
		out.Err = fmt.Errorf("dispatch %s %s: %w", w.Target.Repository, w.Target.Workflow, err)
	}
	return out
}

// acquire takes the dispatch claim of w. It returns the start of the lease
// this attempt holds; or the run an earlier ambiguous attempt created
// (found); or, with done set, the whole step (already dispatched, claim
// busy, or a store or GitHub failure).
func (s *Dispatcher) acquire(ctx context.Context, w WorkItem, log *slog.Logger) (lease time.Time, found *DispatchResult, step Step, done bool) {
	key := w.Key()
	now := s.c.Now()
	claim, err := s.c.Claims.Claim(ctx, key, now)
	if err != nil {
		return lease, nil, Step{Err: fmt.Errorf("claim %s: %w", key, err)}, true
	}
	switch claim.State {
	case ClaimAcquired:
		return claim.ClaimedAt, nil, Step{}, false
	case ClaimDone:
		log.Info("already dispatched; not dispatching again", "target_run_id", claim.Result.RunID)
		return lease, nil, s.succeeded(ctx, w, claim.Result, true, log), true
	case ClaimInProgress:
	default:
		return lease, nil, Step{Err: fmt.Errorf("claim %s: unknown state %d", key, claim.State)}, true
	}
	// A claim younger than the lease may belong to a live attempt (the
	// same item delivered twice at once): wait for it to finish rather
	// than search GitHub, because a search cannot tell this item's run
	// from a run of the same workflow dispatched meanwhile for another
	// source run, and taking that one would lose this dispatch.
	leased := claim.LeasedAt
	if leased.IsZero() {
		leased = claim.ClaimedAt
	}
	if age := now.Sub(leased); age < s.c.ClaimLease {
		return lease, nil, Step{Err: RetryLater("dispatch "+key, s.c.ClaimLease-age, ErrClaimBusy)}, true
	}
	// The holder is presumed dead. Take the claim over atomically, which
	// starts a new lease: of two attempts that found it expired (a
	// redelivery while this one is still dispatching), only one searches
	// and dispatches.
	took, err := s.c.Claims.TakeOver(ctx, key, leased, now)
	if err != nil {
		return lease, nil, Step{Err: fmt.Errorf("take over claim %s: %w", key, err)}, true
	}
	if !took {
		return lease, nil, Step{Err: RetryLater("dispatch "+key, s.c.ClaimLease, ErrClaimBusy)}, true
	}
	// Search from the first claim, not from the takeover: any earlier
	// holder's POST may have created the run, and it may be listed late.
	res, ok, err := s.c.GitHub.FindDispatchedRun(ctx, w.InstallationID, w.Target.Repository, w.Target.Workflow, claim.ClaimedAt)
	if err != nil {
		return lease, nil, Step{Err: fmt.Errorf("look for a run dispatched since %s: %w", claim.ClaimedAt.Format(time.RFC3339), err)}, true
	}
	if ok {
		log.Info("found the run of an earlier ambiguous dispatch; not dispatching again", "target_run_id", res.RunID)
		if res.Attempts == 0 {
			res.Attempts = 1
		}
		return now, &res, Step{}, false
	}
	log.Warn("in-progress claim expired and no run found; dispatching", "claimed_at", claim.ClaimedAt)
	return now, nil, Step{}, false
}

// succeeded returns the effects of a dispatch that happened: lineage, claim
// completion (unless done: the claim already was), the succeeded fact; and
// records the outcome for the result issue.
func (s *Dispatcher) succeeded(ctx context.Context, w WorkItem, res DispatchResult, done bool, log *slog.Logger) Step {
	var step Step
	if !done {
		if res.RunID != 0 {
			step.Lineage = append(step.Lineage, RunLineage{Repository: w.Target.Repository, RunID: res.RunID, Chain: w.runChain()})
		}
		step.Complete = &ClaimCompletion{Key: w.Key(), Result: res, Repository: w.Target.Repository}
	}
	data := w.sourceData()
	data.Attempts = max(res.Attempts, 1)
	data.TargetRunID = res.RunID
	data.TargetRunURL = runURL(res)
	step.Facts = append(step.Facts, facts.New(facts.TypeTriggerSucceeded, s.c.Now(), data))
	s.rep.record(ctx, w, Outcome{
		Repository: w.Target.Repository, Workflow: w.Target.Workflow, Status: OutcomeSuccess,
		Attempts: data.Attempts, RunURL: data.TargetRunURL,
	}, log)
	return step
}

// failed adds the effects of a final dispatch failure (the failed fact) and
// records the outcome for the result issue.
func (s *Dispatcher) failed(ctx context.Context, step *Step, w WorkItem, cause error, log *slog.Logger) {
	data := w.sourceData()
	data.Attempts = attemptsOf(cause)
	data.Error = cause.Error()
	step.Facts = append(step.Facts, facts.New(facts.TypeTriggerFailed, s.c.Now(), data))
	s.rep.record(ctx, w, Outcome{
		Repository: w.Target.Repository, Workflow: w.Target.Workflow, Status: OutcomeFailed,
		Attempts: data.Attempts, Error: data.Error,
	}, log)
}

func runURL(r DispatchResult) string {
	if r.HTMLURL != "" {
		return r.HTMLURL
	}
	return r.RunURL
}
