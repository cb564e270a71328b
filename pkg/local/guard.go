package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Compile-time checks that the adapters implement the pipeline ports.
var (
	_ pipeline.Enqueuer      = (*Queue)(nil)
	_ pipeline.ReplayGuard   = (*ReplayGuard)(nil)
	_ pipeline.FactPublisher = (*Store)(nil)
	_ pipeline.Claims        = (*Store)(nil)
	_ pipeline.Lineage       = (*Store)(nil)
)

// ReplayGuard remembers webhook delivery ids for Options.ReplayWindow
// (REPLAY_WINDOW). It implements pipeline.ReplayGuard; being in the store,
// it is shared by every process using the file.
type ReplayGuard struct{ s *Store }

// ReplayGuard returns the store's replay guard.
func (s *Store) ReplayGuard() *ReplayGuard { return &ReplayGuard{s: s} }

// Seen reports whether id was recorded at most the window ago (like the
// original: exactly the window ago still counts as seen).
func (g *ReplayGuard) Seen(ctx context.Context, id string) (bool, error) {
	var n int
	err := g.s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM replay_guard WHERE id = ? AND seen_at >= ?",
		id, ns(g.s.now().Add(-g.s.opts.ReplayWindow))).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("replay guard: look up %q: %w", id, err)
	}
	return n > 0, nil
}

// Record remembers id from now for the window (re-recording refreshes it).
// Ids whose window has passed are deleted by Cleanup.
func (g *ReplayGuard) Record(ctx context.Context, id string) error {
	now := g.s.now()
	err := g.s.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO replay_guard(id, seen_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET seen_at = excluded.seen_at",
			id, ns(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("replay guard: record %q: %w", id, err)
	}
	return nil
}

const (
	claimInProgress = "in_progress"
	claimDone       = "done"
)

// Claim takes the idempotency record for key at now, or reports its state
// (see pipeline.Claims). A record past its expiry (Options.ClaimTTL) is
// replaced. Exactly one of any number of concurrent callers gets
// ClaimAcquired.
func (s *Store) Claim(ctx context.Context, key string, now time.Time) (pipeline.Claim, error) {
	now = now.UTC()
	var c pipeline.Claim
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM claims WHERE key = ? AND expires_at <= ?", key, ns(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO claims(key, state, claimed_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			key, claimInProgress, ns(now), ns(now.Add(s.opts.ClaimTTL)))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			c = pipeline.Claim{State: pipeline.ClaimAcquired, ClaimedAt: now}
			return nil
		}
		var state string
		var claimed int64
		var leased sql.NullInt64
		var result sql.NullString
		if err := tx.QueryRowContext(ctx, "SELECT state, claimed_at, leased_at, result FROM claims WHERE key = ?", key).Scan(&state, &claimed, &leased, &result); err != nil {
			return err
		}
		c = pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: fromNS(claimed), LeasedAt: fromNS(claimed)}
		if leased.Valid {
			c.LeasedAt = fromNS(leased.Int64)
		}
		if state == claimDone {
			c.State = pipeline.ClaimDone
			if result.Valid && result.String != "" {
				if err := json.Unmarshal([]byte(result.String), &c.Result); err != nil {
					return fmt.Errorf("decode result: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return pipeline.Claim{}, fmt.Errorf("claim %q: %w", key, err)
	}
	return c, nil
}

// TakeOver restarts the lease of the in-progress claim of key at now when
// its lease still starts at leasedAt (see pipeline.Claims): one
// compare-and-set UPDATE, so of concurrent callers that saw the same lease
// exactly one gets true. The first claim time is kept.
func (s *Store) TakeOver(ctx context.Context, key string, leasedAt, now time.Time) (bool, error) {
	var took bool
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, "UPDATE claims SET leased_at = ?1 WHERE key = ?2 AND state = ?3 AND COALESCE(leased_at, claimed_at) = ?4",
			ns(now.UTC()), key, claimInProgress, ns(leasedAt.UTC()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		took = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("take over %q: %w", key, err)
	}
	return took, nil
}

// Complete marks key done with its result (creating the record if it
// expired meanwhile); the record then lives Options.ClaimTTL from now.
func (s *Store) Complete(ctx context.Context, key string, result pipeline.DispatchResult) error {
	now := s.now()
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		return s.completeTx(ctx, tx, key, result, now)
	})
	if err != nil {
		return fmt.Errorf("complete %q: %w", key, err)
	}
	return nil
}

func (s *Store) completeTx(ctx context.Context, tx *wtx, key string, result pipeline.DispatchResult, now time.Time) error {
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO claims(key, state, claimed_at, completed_at, result, expires_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5)
ON CONFLICT(key) DO UPDATE SET state = ?2, completed_at = ?3, result = ?4, expires_at = ?5`,
		key, claimDone, ns(now), string(b), ns(now.Add(s.opts.ClaimTTL)))
	return err
}

// Release forgets the in-progress claim of key whose lease starts at
// leasedAt, so a replay can dispatch (see pipeline.Claims): one
// compare-and-delete, so a claim taken over since (a new lease) survives
// the release of an attempt that outlived its lease. A done record is never
// released (that would allow a second dispatch).
func (s *Store) Release(ctx context.Context, key string, leasedAt time.Time) (bool, error) {
	var released bool
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		released, err = releaseTx(ctx, tx, key, leasedAt)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release %q: %w", key, err)
	}
	return released, nil
}

func releaseTx(ctx context.Context, tx *wtx, key string, leasedAt time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM claims WHERE key = ?1 AND state = ?2 AND COALESCE(leased_at, claimed_at) = ?3",
		key, claimInProgress, ns(leasedAt.UTC()))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecordRun stores the chain of the run repository/runID (the repository
// compared case-insensitively) for Options.LineageTTL.
func (s *Store) RecordRun(ctx context.Context, repository string, runID int64, chain []plan.ChainLink) error {
	now := s.now()
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		return s.recordRunTx(ctx, tx, repository, runID, chain, now)
	})
	if err != nil {
		return fmt.Errorf("record lineage of %s run %d: %w", repository, runID, err)
	}
	return nil
}

func (s *Store) recordRunTx(ctx context.Context, tx *wtx, repository string, runID int64, chain []plan.ChainLink, now time.Time) error {
	b, err := json.Marshal(chain)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO lineage(repository, run_id, chain, recorded_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT(repository, run_id) DO UPDATE SET chain = ?3, recorded_at = ?4, expires_at = ?5`,
		strings.ToLower(repository), runID, string(b), ns(now), ns(now.Add(s.opts.LineageTTL)))
	return err
}

// ChainOf returns the stored chain of a run, or nil when dispatcher did not
// start it (or its record expired).
func (s *Store) ChainOf(ctx context.Context, repository string, runID int64) ([]plan.ChainLink, error) {
	var b string
	err := s.db.QueryRowContext(ctx, "SELECT chain FROM lineage WHERE repository = ? AND run_id = ? AND expires_at > ?",
		strings.ToLower(repository), runID, ns(s.now())).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lineage of %s run %d: %w", repository, runID, err)
	}
	var chain []plan.ChainLink
	if err := json.Unmarshal([]byte(b), &chain); err != nil {
		return nil, fmt.Errorf("lineage of %s run %d: %w", repository, runID, err)
	}
	return chain, nil
}
