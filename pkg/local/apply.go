package local

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

var _ pipeline.Applier = (*Store)(nil)

// Apply implements pipeline.Applier: the effects of one step in one
// transaction (group-committed with concurrent steps). See ApplyStep.
func (s *Store) Apply(ctx context.Context, e pipeline.Effects) error {
	return s.ApplyStep(ctx, e, nil)
}

// ApplyStep makes the effects of one step durable and, when settle is not
// nil, settles the step's message, all in one transaction: the replay
// record (ingress; pipeline.ErrDuplicateDelivery, and nothing applied, when
// the id was recorded less than the replay window ago), messages (each
// queue's consumers in this process are woken after the commit), facts
// (appended; the folder is woken), outcomes, lineage, the claim completed
// or released, and the message acknowledged, retried or dead-lettered. It
// returns only when the transaction is durable. A settle whose receipt is
// stale (the message's visibility timeout ran out and it was received
// again) does not undo the effects: they are idempotent, and the newer
// receive settles the message; ApplyStep then returns ErrStaleReceipt
// after committing the rest.
func (s *Store) ApplyStep(ctx context.Context, e pipeline.Effects, settle *Settle) error {
	if err := checkFacts(e.Facts); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	now := s.now()
	var stale error
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		stale = nil
		return s.applyTx(ctx, tx, e, settle, now, &stale)
	})
	if err != nil {
		if errors.Is(err, pipeline.ErrDuplicateDelivery) {
			return err
		}
		return fmt.Errorf("apply: %w", err)
	}
	for _, m := range e.Enqueue {
		s.notify(m.Queue)
	}
	if settle != nil && settle.Action == RetryAfter {
		// Visible again now, or later: idle consumers recompute when.
		s.notify(settle.Queue)
	}
	if len(e.Facts) > 0 {
		s.notifyFold()
	}
	return stale
}

func (s *Store) applyTx(ctx context.Context, tx *wtx, e pipeline.Effects, settle *Settle, now time.Time, stale *error) error {
	if e.Replay != "" {
		res, err := tx.ExecContext(ctx, `INSERT INTO replay_guard(id, seen_at) VALUES (?1, ?2)
ON CONFLICT(id) DO UPDATE SET seen_at = excluded.seen_at WHERE replay_guard.seen_at < ?3`,
			e.Replay, ns(now), ns(now.Add(-s.opts.ReplayWindow)))
		if err != nil {
			return fmt.Errorf("replay guard: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return pipeline.ErrDuplicateDelivery
		}
	}
	for _, m := range e.Enqueue {
		if _, _, err := s.enqueueTx(ctx, tx, m.Queue, NewMessage{DedupID: m.DedupID, Body: m.Body}, now); err != nil {
			return fmt.Errorf("enqueue on %s: %w", m.Queue, err)
		}
	}
	if err := appendFacts(ctx, tx, e.Facts, now); err != nil {
		return err
	}
	for _, o := range e.Outcomes {
		if err := s.putOutcomeTx(ctx, tx, o.DeliveryID, o.Outcome, now); err != nil {
			return fmt.Errorf("store outcome of %s: %w", o.DeliveryID, err)
		}
	}
	for _, l := range e.Lineage {
		if err := s.recordRunTx(ctx, tx, l.Repository, l.RunID, l.Chain, now); err != nil {
			return fmt.Errorf("record lineage of %s run %d: %w", l.Repository, l.RunID, err)
		}
	}
	if c := e.Complete; c != nil {
		if c.Result.RunID != 0 && c.Repository != "" {
			if err := s.claimRunTx(ctx, tx, c, now); err != nil {
				return err
			}
		}
		if err := s.completeTx(ctx, tx, c.Key, c.Result, now); err != nil {
			return fmt.Errorf("complete %q: %w", c.Key, err)
		}
	}
	if r := e.Release; r != nil {
		// A claim taken over meanwhile by another attempt (a new lease) is
		// left alone: the compare-and-delete simply removes nothing.
		if _, err := releaseTx(ctx, tx, r.Key, r.LeasedAt); err != nil {
			return fmt.Errorf("release %q: %w", r.Key, err)
		}
	}
	if settle != nil {
		if err := s.settleTx(ctx, tx, *settle, now); err != nil {
			if errors.Is(err, ErrStaleReceipt) {
				*stale = fmt.Errorf("settle on %s: %w", settle.Queue, err)
				return nil
			}
			return fmt.Errorf("settle on %s: %w", settle.Queue, err)
		}
	}
	return nil
}

// claimRunTx records the run of a completed dispatch as that dispatch's:
// the first dispatch to record a run id owns it (for ClaimTTL), and another
// dispatch naming the same run fails with pipeline.ErrRunClaimed, so two
// work items never report one run (one of them would not have happened).
func (s *Store) claimRunTx(ctx context.Context, tx *wtx, c *pipeline.ClaimCompletion, now time.Time) error {
	repo := strings.ToLower(c.Repository)
	if _, err := tx.ExecContext(ctx, `INSERT INTO dispatched_runs(repository, run_id, claim_key, expires_at) VALUES (?, ?, ?, ?)
ON CONFLICT(repository, run_id) DO NOTHING`, repo, c.Result.RunID, c.Key, ns(now.Add(s.opts.ClaimTTL))); err != nil {
		return fmt.Errorf("record run %d of %s: %w", c.Result.RunID, c.Repository, err)
	}
	var owner string
	if err := tx.QueryRowContext(ctx, "SELECT claim_key FROM dispatched_runs WHERE repository = ? AND run_id = ?", repo, c.Result.RunID).Scan(&owner); err != nil {
		return fmt.Errorf("record run %d of %s: %w", c.Result.RunID, c.Repository, err)
	}
	if owner != c.Key {
		return fmt.Errorf("run %d of %s for %s: %w (%s)", c.Result.RunID, c.Repository, c.Key, pipeline.ErrRunClaimed, owner)
	}
	return nil
}
