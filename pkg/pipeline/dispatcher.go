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
	Claims  Claims        // required
	Lineage Lineage       // required
	GitHub  GitHub        // required
	Facts   FactPublisher // required

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
	if c.Claims == nil || c.Lineage == nil || c.GitHub == nil || c.Facts == nil {
		return nil, errors.New("dispatcher: claims, lineage, GitHub and fact publisher are required")
	}
	if c.ClaimLease <= 0 {
		c.ClaimLease = DefaultClaimLease
	}
	c.Now = orNow(c.Now)
	c.Logger = orDefault(c.Logger)
	return &Dispatcher{c: c, rep: reporter{issues: c.Issues, outcomes: c.Outcomes, claims: c.Claims, now: c.Now}}, nil
}

// HandleWorkItem dispatches one message of the targets queue, exactly once
// per WorkItem.Key:
//
//   - the claim is Done: nothing is dispatched; the succeeded fact is
//     re-published (same id) in case the first publish was lost;
//   - the claim is InProgress and younger than the lease: it may belong to
//     a live attempt; the message is retried after the lease (an Error
//     with RetryAfter) without searching GitHub;
//   - the claim is InProgress and its lease has ended (a crash or an
//     ambiguous failure after the POST may have been sent): the claim is
//     taken over (Claims.TakeOver, which starts a new lease; an attempt
//     that loses the takeover retries after the lease), then GitHub is
//     searched for a workflow_dispatch run created since the first claim;
//     if one exists it is recorded as the result; if not, dispatch;
//   - the claim is Acquired: dispatch.
//
// After a successful dispatch the target run's lineage is recorded, the
// claim completed and dispatch.trigger.succeeded published. A permanent
// GitHub failure releases the claim (the lease this attempt holds; see
// Claims.Release), publishes dispatch.trigger.failed
// with GitHub's message and returns a permanent error (dead-letter now; a
// replay dispatches again). A transient failure releases the claim when
// the request certainly did not reach GitHub (IsAmbiguous false) and keeps
// it otherwise, then returns the error for a retry; trigger.failed is
// published only when d is the final receive.
func (s *Dispatcher) HandleWorkItem(ctx context.Context, body []byte, d Delivery) error {
	var w WorkItem
	if err := json.Unmarshal(body, &w); err != nil {
		return PermanentError("decode work item", err)
	}
	if w.DeliveryID == "" || w.Source.Repository == "" || w.Target.Repository == "" || w.Target.Workflow == "" {
		return permanentf("decode work item", "delivery_id, source.repository, target.repository and target.workflow are required")
	}
	log := s.c.Logger.With("correlation_id", w.DeliveryID, "stage", "dispatcher",
		"target_repo", w.Target.Repository, "target_workflow", w.Target.Workflow, "receive", d.ReceiveCount)
	err := s.handle(ctx, w, d, log)
	switch {
	case err == nil:
	case IsPermanent(err):
		log.Error("work item failed permanently", "error", err)
	case errors.Is(err, ErrClaimBusy):
		log.Info("dispatch claimed by another attempt; retrying later", "retry_after", RetryAfterOf(err).String())
	default:
		log.Warn("work item failed; it will be retried", "error", err, "final", d.Final())
	}
	return err
}

func (s *Dispatcher) handle(ctx context.Context, w WorkItem, d Delivery, log *slog.Logger) error {
	key := w.Key()
	now := s.c.Now()
	claim, err := s.c.Claims.Claim(ctx, key, now)
	if err != nil {
		return fmt.Errorf("claim %s: %w", key, err)
	}
	// lease is the start of the lease this attempt holds, once it holds
	// one: Release is conditional on it.
	lease := claim.ClaimedAt
	switch claim.State {
	case ClaimDone:
		log.Info("already dispatched; not dispatching again", "target_run_id", claim.Result.RunID)
		return s.succeeded(ctx, w, claim.Result, true, log)
	case ClaimInProgress:
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
			return RetryLater("dispatch "+key, s.c.ClaimLease-age, ErrClaimBusy)
		}
		// The holder is presumed dead. Take the claim over atomically,
		// which starts a new lease: of two attempts that found it expired
		// (a redelivery while this one is still dispatching), only one
		// searches and dispatches.
		took, err := s.c.Claims.TakeOver(ctx, key, leased, now)
		if err != nil {
			return fmt.Errorf("take over claim %s: %w", key, err)
		}
		if !took {
			return RetryLater("dispatch "+key, s.c.ClaimLease, ErrClaimBusy)
		}
		lease = now
		// Search from the first claim, not from the takeover: any earlier
		// holder's POST may have created the run, and it may be listed late.
		res, found, err := s.c.GitHub.FindDispatchedRun(ctx, w.InstallationID, w.Target.Repository, w.Target.Workflow, claim.ClaimedAt)
		if err != nil {
			return fmt.Errorf("look for a run dispatched since %s: %w", claim.ClaimedAt.Format(time.RFC3339), err)
		}
		if found {
			log.Info("found the run of an earlier ambiguous dispatch; not dispatching again", "target_run_id", res.RunID)
			if res.Attempts == 0 {
				res.Attempts = 1
			}
			return s.succeeded(ctx, w, res, false, log)
		}
		log.Warn("in-progress claim expired and no run found; dispatching", "claimed_at", claim.ClaimedAt)
	case ClaimAcquired:
	default:
		return fmt.Errorf("claim %s: unknown state %d", key, claim.State)
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
	if permanent || !IsAmbiguous(err) {
		// The dispatch certainly did not happen: forget the claim so that a
		// retry or a replay from the dead-letter queue dispatches.
		released, rerr := s.c.Claims.Release(ctx, key, lease)
		switch {
		case rerr != nil:
			log.Warn("release claim failed; a retry will look for a run first", "error", rerr)
		case !released:
			// This attempt outlived its lease and another took the claim
			// over (or completed it): the claim is that attempt's now.
			log.Warn("claim not released: another attempt took it over meanwhile")
		}
	}
	if permanent || d.Final() {
		s.failed(ctx, w, err, log)
	}
	if permanent {
		return PermanentError("dispatch "+w.Target.Repository+" "+w.Target.Workflow, err)
	}
	return fmt.Errorf("dispatch %s %s: %w", w.Target.Repository, w.Target.Workflow, err)
}

// succeeded records a dispatch that happened: lineage, claim, fact, outcome.
// Each step is idempotent, so a redelivery after a failure in the middle
// redoes them all.
func (s *Dispatcher) succeeded(ctx context.Context, w WorkItem, res DispatchResult, done bool, log *slog.Logger) error {
	if !done {
		if res.RunID != 0 {
			if err := s.c.Lineage.RecordRun(ctx, w.Target.Repository, res.RunID, w.runChain()); err != nil {
				return fmt.Errorf("record lineage of %s run %d: %w", w.Target.Repository, res.RunID, err)
			}
		}
		if err := s.c.Claims.Complete(ctx, w.Key(), res); err != nil {
			return fmt.Errorf("complete claim %s: %w", w.Key(), err)
		}
	}
	data := w.sourceData()
	data.Attempts = max(res.Attempts, 1)
	data.TargetRunID = res.RunID
	data.TargetRunURL = runURL(res)
	if err := s.c.Facts.Publish(ctx, facts.New(facts.TypeTriggerSucceeded, s.c.Now(), data)); err != nil {
		return fmt.Errorf("publish trigger succeeded fact: %w", err)
	}
	s.rep.record(ctx, w, Outcome{
		Repository: w.Target.Repository, Workflow: w.Target.Workflow, Status: OutcomeSuccess,
		Attempts: data.Attempts, RunURL: data.TargetRunURL,
	}, log)
	return nil
}

// failed records a final dispatch failure. A publish failure is logged: the
// handler returns an error anyway and the message goes to the dead-letter
// queue with the same message.
func (s *Dispatcher) failed(ctx context.Context, w WorkItem, cause error, log *slog.Logger) {
	data := w.sourceData()
	data.Attempts = attemptsOf(cause)
	data.Error = cause.Error()
	if err := s.c.Facts.Publish(ctx, facts.New(facts.TypeTriggerFailed, s.c.Now(), data)); err != nil {
		log.Error("publish trigger failed fact failed", "error", err)
	}
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
