package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// Projection row kinds of the projections table. Rows are JSON values of
// the pkg/facts read-model types, keyed for direct reads; sort orders the
// listings (Unix seconds for hour/minute/latency buckets, nanoseconds for
// the others).
const (
	kindSummary  = "summary"  // key "global"
	kindRepo     = "repo"     // key repo, sort last event
	kindHour     = "hour"     // key hour (Unix s), sort hour
	kindMinute   = "minute"   // key "<minute>|<repo>", sort minute
	kindDelivery = "delivery" // key delivery id, sort last event
	kindLatency  = "latency"  // key acceptance hour (Unix s), sort hour
	kindFailure  = "failure"  // key event id, sort time
)

// Publish appends facts and applies the projection reducer to the stored
// read models in one transaction: either every fact of the call is
// appended and applied, or none is. A fact whose id is already stored is
// skipped, so publishing a fact twice counts once. It implements
// pipeline.FactPublisher.
func (s *Store) Publish(ctx context.Context, events ...facts.Event) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if e.ID == "" || e.Type == "" || e.Time.IsZero() {
			return fmt.Errorf("publish: %w: id %q, type %q, time %v", ErrInvalidFact, e.ID, e.Type, e.Time)
		}
	}
	recorded := s.now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if err := s.applyOne(ctx, tx, e, recorded); err != nil {
				return fmt.Errorf("fact %s (%s): %w", e.ID, e.Type, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

func (s *Store) applyOne(ctx context.Context, tx *sql.Tx, e facts.Event, recorded time.Time) error {
	e.Time = e.Time.UTC()
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO events(id, type, time, delivery_id, source_repo, recorded_at, event)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		e.ID, e.Type, ns(e.Time), e.Data.DeliveryID, facts.RepoOf(e), ns(recorded), string(body))
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // already applied
	}

	st := facts.NewState()
	var before *facts.Funnel
	if id := e.Data.DeliveryID; id != "" {
		var f facts.Funnel
		ok, err := getRow(ctx, tx, kindDelivery, id, &f)
		if err != nil {
			return err
		}
		if ok {
			before = &f
			st.Deliveries[id] = f
		}
	}
	k := facts.Touched(e, before)
	if _, err := getRow(ctx, tx, kindSummary, "global", &st.Summary); err != nil {
		return err
	}
	if err := loadInto(ctx, tx, kindRepo, k.Repo, st.Repos, k.Repo); err != nil {
		return err
	}
	if err := loadInto(ctx, tx, kindHour, strconv.FormatInt(k.Hour, 10), st.Hours, k.Hour); err != nil {
		return err
	}
	if err := loadInto(ctx, tx, kindMinute, minuteKey(k.Minute), st.RepoMinutes, k.Minute); err != nil {
		return err
	}
	for _, h := range k.LatencyHours {
		if err := loadInto(ctx, tx, kindLatency, strconv.FormatInt(h, 10), st.Latency, h); err != nil {
			return err
		}
	}

	failure := facts.Apply(st, e)

	sum := st.Summary
	if err := putRow(ctx, tx, kindSummary, "global", 0, sum); err != nil {
		return err
	}
	rs := st.Repos[k.Repo]
	if err := putRow(ctx, tx, kindRepo, k.Repo, ns(rs.LastEventAt), rs); err != nil {
		return err
	}
	if err := putRow(ctx, tx, kindHour, strconv.FormatInt(k.Hour, 10), k.Hour, st.Hours[k.Hour]); err != nil {
		return err
	}
	if err := putRow(ctx, tx, kindMinute, minuteKey(k.Minute), k.Minute.Minute, st.RepoMinutes[k.Minute]); err != nil {
		return err
	}
	if k.Delivery != "" {
		f := st.Deliveries[k.Delivery]
		if err := putRow(ctx, tx, kindDelivery, k.Delivery, ns(f.LastEventAt), f); err != nil {
			return err
		}
	}
	for _, h := range k.LatencyHours {
		if hist, ok := st.Latency[h]; ok {
			if err := putRow(ctx, tx, kindLatency, strconv.FormatInt(h, 10), h, hist); err != nil {
				return err
			}
		}
	}
	if failure != nil {
		if err := putRow(ctx, tx, kindFailure, failure.EventID, ns(failure.Time), *failure); err != nil {
			return err
		}
	}
	if s.afterApply != nil {
		return s.afterApply(e)
	}
	return nil
}

func minuteKey(k facts.MinuteKey) string { return strconv.FormatInt(k.Minute, 10) + "|" + k.Repo }

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getRow decodes the row kind/key into v; ok is false when there is none.
func getRow(ctx context.Context, q queryer, kind, key string, v any) (ok bool, err error) {
	var b string
	err = q.QueryRowContext(ctx, "SELECT value FROM projections WHERE kind = ? AND key = ?", kind, key).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s %q: %w", kind, key, err)
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		return false, fmt.Errorf("decode %s %q: %w", kind, key, err)
	}
	return true, nil
}

func loadInto[K comparable, V any](ctx context.Context, q queryer, kind, key string, m map[K]V, mk K) error {
	var v V
	ok, err := getRow(ctx, q, kind, key, &v)
	if ok {
		m[mk] = v
	}
	return err
}

func putRow(ctx context.Context, tx *sql.Tx, kind, key string, sort int64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", kind, key, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO projections(kind, key, sort, value) VALUES (?, ?, ?, ?)
ON CONFLICT(kind, key) DO UPDATE SET sort = excluded.sort, value = excluded.value`, kind, key, sort, string(b)); err != nil {
		return fmt.Errorf("write %s %q: %w", kind, key, err)
	}
	return nil
}
