package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Queue names of the pipeline. A runtime maps them to its queues (SQLite
// tables in serve, SQS queue URLs on AWS).
const (
	QueueRequests = "requests" // ingress → planner
	QueueTargets  = "targets"  // planner → dispatcher
)

// Outgoing is one message a step enqueues.
type Outgoing struct {
	// Queue is QueueRequests or QueueTargets.
	Queue string
	// DedupID is a deterministic id of the message (the delivery id on the
	// requests queue, WorkItem.Key on the targets queue) that a queue may
	// use to drop true duplicates.
	DedupID string
	Body    []byte
}

// RunLineage is the chain of a run dispatcher started (Lineage.RecordRun).
type RunLineage struct {
	Repository string
	RunID      int64
	Chain      []plan.ChainLink
}

// DeliveryOutcome is the final outcome of one target of a delivery
// (Outcomes.Put), for the result issue.
type DeliveryOutcome struct {
	DeliveryID string
	Outcome    Outcome
}

// ClaimCompletion marks a dispatch claim done (Claims.Complete).
type ClaimCompletion struct {
	Key    string
	Result DispatchResult
	// Repository is the target repository of the dispatch. With a run id
	// in Result, a runtime that can (serve) also records the run as this
	// dispatch's: a run id recorded by one dispatch is never recorded by
	// another (ErrRunClaimed), so no two deliveries report one run.
	Repository string
}

// ErrRunClaimed is returned by an Applier when the run id of a
// ClaimCompletion is already recorded for another dispatch.
var ErrRunClaimed = errors.New("run already recorded for another dispatch")

// ClaimRelease forgets an in-progress claim the step held (Claims.Release):
// the dispatch certainly did not happen.
type ClaimRelease struct {
	Key string
	// LeasedAt is the start of the lease the step held (see Claims.Release).
	LeasedAt time.Time
}

// Effects are what one step of a stage asks its runtime to make durable:
// the stage decides, the runtime applies. The embedded runtime applies the
// effects of a step, and the acknowledgement of its message, in one SQLite
// transaction (pkg/local); the AWS runtime applies them through the ports in
// the order of PortApplier. Every effect is idempotent, so a step that is
// applied again after a crash changes nothing twice.
type Effects struct {
	// Replay is the webhook delivery id to record in the replay guard
	// (ingress). Applying fails with ErrDuplicateDelivery, and applies
	// nothing, when the id was recorded less than the replay window ago.
	Replay string
	// Enqueue are the messages to send.
	Enqueue []Outgoing
	// Facts are the facts to record (each id counts once).
	Facts []facts.Event
	// Outcomes are per-target outcomes for the result issue.
	Outcomes []DeliveryOutcome
	// Lineage are chains of runs dispatcher started.
	Lineage []RunLineage
	// Complete marks a dispatch claim done.
	Complete *ClaimCompletion
	// Release forgets a dispatch claim.
	Release *ClaimRelease
}

// Empty reports whether e asks for nothing.
func (e Effects) Empty() bool {
	return e.Replay == "" && len(e.Enqueue) == 0 && len(e.Facts) == 0 && len(e.Outcomes) == 0 &&
		len(e.Lineage) == 0 && e.Complete == nil && e.Release == nil
}

// Step is the result of handling one queue message: the effects to apply
// and the fate of the message. Err nil means acknowledge; a permanent error
// (IsPermanent) means dead-letter at once; any other error means retry
// (after RetryAfterOf(Err) when it says), and dead-letter on the final
// receive. The effects are applied whatever the fate (a permanent failure
// records its trigger.failed fact and releases its claim).
type Step struct {
	Effects
	Err error
}

// ErrDuplicateDelivery is returned by an Applier when Effects.Replay names
// a delivery id recorded inside the replay window.
var ErrDuplicateDelivery = errors.New("duplicate webhook delivery")

// Applier makes the effects of a step durable.
type Applier interface {
	Apply(ctx context.Context, e Effects) error
}

// PortApplier applies effects through the ports, one call each, in the
// order the AWS runtime needs (DESIGN 4.1): the replay guard is consulted,
// then messages are sent, then the delivery id is recorded, then outcomes,
// lineage and the claim are written, and facts are published last. A
// failure before the first message was sent fails the step with nothing
// done; a failure after it fails the step too (the retry repeats every
// effect, each idempotent), except for ingress effects (Replay set), where
// the request is already durable and the failures of the replay record and
// of the fact publish are logged: the planner publishes the same
// request.accepted fact again.
type PortApplier struct {
	Queues   map[string]Enqueuer // by queue name (QueueRequests, QueueTargets)
	Replay   ReplayGuard         // needed for effects with Replay
	Facts    FactPublisher       // needed for effects with Facts
	Claims   Claims              // needed for Complete and Release
	Lineage  Lineage             // needed for Lineage
	Outcomes Outcomes            // needed for Outcomes
	Logger   *slog.Logger        // slog.Default() when nil
}

// Apply implements Applier.
func (a PortApplier) Apply(ctx context.Context, e Effects) error {
	log := orDefault(a.Logger)
	if e.Replay != "" {
		if a.Replay == nil {
			return errors.New("apply: no replay guard")
		}
		seen, err := a.Replay.Seen(ctx, e.Replay)
		if err != nil {
			return fmt.Errorf("replay guard: %w", err)
		}
		if seen {
			return ErrDuplicateDelivery
		}
	}
	for _, m := range e.Enqueue {
		q := a.Queues[m.Queue]
		if q == nil {
			return fmt.Errorf("apply: no queue %q", m.Queue)
		}
		if err := q.Enqueue(ctx, m.DedupID, m.Body); err != nil {
			return fmt.Errorf("enqueue on %s: %w", m.Queue, err)
		}
	}
	if e.Replay != "" {
		// The request is durable: from here on nothing turns the answer
		// into an error, and the caller going away does not cut it short.
		ctx = context.WithoutCancel(ctx)
		if err := a.Replay.Record(ctx, e.Replay); err != nil {
			log.Warn("delivery enqueued but not recorded in the replay guard", "correlation_id", LogSafe(e.Replay), "error", err)
		}
		if len(e.Facts) > 0 && a.Facts != nil {
			if err := a.Facts.Publish(ctx, e.Facts...); err != nil {
				log.Warn("publish request accepted fact failed; the planner will publish it", "correlation_id", LogSafe(e.Replay), "error", err)
			}
		}
		return nil
	}
	for _, o := range e.Outcomes {
		if a.Outcomes == nil {
			return errors.New("apply: no outcome store")
		}
		if _, err := a.Outcomes.Put(ctx, o.DeliveryID, o.Outcome); err != nil {
			return fmt.Errorf("store outcome of %s %s: %w", o.Outcome.Repository, o.Outcome.Workflow, err)
		}
	}
	for _, l := range e.Lineage {
		if a.Lineage == nil {
			return errors.New("apply: no lineage store")
		}
		if err := a.Lineage.RecordRun(ctx, l.Repository, l.RunID, l.Chain); err != nil {
			return fmt.Errorf("record lineage of %s run %d: %w", l.Repository, l.RunID, err)
		}
	}
	if e.Complete != nil || e.Release != nil {
		if a.Claims == nil {
			return errors.New("apply: no claims")
		}
	}
	if c := e.Complete; c != nil {
		if err := a.Claims.Complete(ctx, c.Key, c.Result); err != nil {
			return fmt.Errorf("complete claim %s: %w", c.Key, err)
		}
	}
	if r := e.Release; r != nil {
		released, err := a.Claims.Release(ctx, r.Key, r.LeasedAt)
		switch {
		case err != nil:
			// Not fatal: the claim stays in progress and a retry or replay
			// looks for a run before it dispatches.
			log.Warn("release claim failed; a retry will look for a run first", "key", r.Key, "error", err)
		case !released:
			log.Warn("claim not released: another attempt took it over meanwhile", "key", r.Key)
		}
	}
	if len(e.Facts) > 0 {
		if a.Facts == nil {
			return errors.New("apply: no fact publisher")
		}
		if err := a.Facts.Publish(ctx, e.Facts...); err != nil {
			return fmt.Errorf("publish facts: %w", err)
		}
	}
	return nil
}
