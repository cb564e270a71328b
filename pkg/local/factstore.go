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

// Publish appends facts in one transaction (a fact whose id is already
// stored is skipped, so publishing a fact twice counts once) and wakes the
// background folder, which folds them into the projections (Fold). It
// implements pipeline.FactPublisher.
func (s *Store) Publish(ctx context.Context, events ...facts.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := checkFacts(events); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	recorded := s.now()
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		return appendFacts(ctx, tx, events, recorded)
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	s.notifyFold()
	return nil
}

func checkFacts(events []facts.Event) error {
	for _, e := range events {
		if e.ID == "" || e.Type == "" || e.Time.IsZero() {
			return fmt.Errorf("%w: id %q, type %q, time %v", ErrInvalidFact, e.ID, e.Type, e.Time)
		}
	}
	return nil
}

// appendFacts inserts facts into the event log (one insert each; an id
// already stored is skipped). The folder applies them to the projections.
func appendFacts(ctx context.Context, tx *wtx, events []facts.Event, recorded time.Time) error {
	for _, e := range events {
		e.Time = e.Time.UTC()
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("fact %s: %w", e.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events(id, type, time, delivery_id, source_repo, recorded_at, event)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
			e.ID, e.Type, ns(e.Time), e.Data.DeliveryID, facts.RepoOf(e), ns(recorded), string(body)); err != nil {
			return fmt.Errorf("append fact %s (%s): %w", e.ID, e.Type, err)
		}
	}
	return nil
}

// DefaultFoldBatch is how many facts one fold transaction applies.
const DefaultFoldBatch = 512

// Fold applies every fact appended since the last fold to the projections,
// in transactions of at most DefaultFoldBatch facts, and returns how many
// it applied. Each fact is applied once: the fold cursor (the last folded
// sequence number) moves in the same transaction as the projection rows.
// RunFolder calls it in the background; tools and tests call it to read
// up-to-date projections.
func (s *Store) Fold(ctx context.Context) (int, error) {
	// Nothing pending costs a read, not a commit.
	var pending bool
	if err := s.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM events WHERE seq > (SELECT seq FROM fold_state WHERE id = 1))").Scan(&pending); err != nil {
		return 0, fmt.Errorf("fold facts: %w", err)
	}
	if !pending {
		return 0, nil
	}
	total := 0
	for {
		n, err := s.foldBatch(ctx, DefaultFoldBatch)
		total += n
		if err != nil || n < DefaultFoldBatch {
			return total, err
		}
	}
}

// RunFolder folds facts into the projections in the background until ctx
// is done: at once after a commit that appended facts in this process, and
// every interval for facts appended by other processes. Errors are given
// to logf and retried at the next wake.
func (s *Store) RunFolder(ctx context.Context, interval time.Duration, logf func(error)) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.foldSig:
		case <-t.C:
		}
		if _, err := s.Fold(ctx); err != nil && ctx.Err() == nil && logf != nil {
			logf(err)
		}
	}
}

// FoldLag reports the facts appended but not yet folded into the
// projections (the background folder's lag): how many, and the age of the
// oldest by the store's clock.
func (s *Store) FoldLag(ctx context.Context) (facts.FoldLag, error) {
	var lag facts.FoldLag
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(recorded_at) FROM events WHERE seq > (SELECT seq FROM fold_state WHERE id = 1)`).Scan(&lag.Pending, &oldest)
	if err != nil {
		return facts.FoldLag{}, fmt.Errorf("fold lag: %w", err)
	}
	if oldest.Valid {
		lag.Oldest = max(s.now().Sub(fromNS(oldest.Int64)), 0)
	}
	return lag, nil
}

// foldBatch folds up to limit pending facts in one transaction.
func (s *Store) foldBatch(ctx context.Context, limit int) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		n, err = foldTx(ctx, tx, limit)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("fold facts: %w", err)
	}
	return n, nil
}

// foldTx applies the next limit facts after the fold cursor: it loads the
// projection rows they touch into a facts.State, applies the reducer to
// each fact in sequence order, writes the rows back and moves the cursor.
func foldTx(ctx context.Context, tx *wtx, limit int) (int, error) {
	var cursor int64
	if err := tx.QueryRowContext(ctx, "SELECT seq FROM fold_state WHERE id = 1").Scan(&cursor); err != nil {
		return 0, fmt.Errorf("read fold cursor: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT seq, event FROM events WHERE seq > ? ORDER BY seq LIMIT ?", cursor, limit)
	if err != nil {
		return 0, fmt.Errorf("read pending facts: %w", err)
	}
	type pending struct {
		seq int64
		ev  facts.Event
	}
	var evs []pending
	for rows.Next() {
		var p pending
		var b string
		if err := rows.Scan(&p.seq, &b); err != nil {
			rows.Close()
			return 0, err
		}
		if err := json.Unmarshal([]byte(b), &p.ev); err != nil {
			rows.Close()
			return 0, fmt.Errorf("decode fact %d: %w", p.seq, err)
		}
		evs = append(evs, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	if len(evs) == 0 {
		return 0, nil
	}

	st := facts.NewState()
	f := folder{tx: tx, st: st, loaded: map[string]bool{}}
	if _, err := getRow(ctx, tx, kindSummary, "global", &st.Summary); err != nil {
		return 0, err
	}
	for _, p := range evs {
		if err := f.apply(ctx, p.ev); err != nil {
			return 0, fmt.Errorf("fold fact %s (%s): %w", p.ev.ID, p.ev.Type, err)
		}
	}
	if err := f.flush(ctx); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE fold_state SET seq = ? WHERE id = 1", evs[len(evs)-1].seq); err != nil {
		return 0, fmt.Errorf("move fold cursor: %w", err)
	}
	return len(evs), nil
}

// folder holds the projection rows of one fold batch in a facts.State,
// loading each row from the table the first time a fact touches it.
type folder struct {
	tx       *wtx
	st       *facts.State
	loaded   map[string]bool // kind|key of rows loaded (or found absent)
	failures []facts.Failure
}

func (f *folder) load(ctx context.Context, kind, key string, into func() (any, func())) error {
	id := kind + "|" + key
	if f.loaded[id] {
		return nil
	}
	f.loaded[id] = true
	v, put := into()
	ok, err := getRow(ctx, f.tx, kind, key, v)
	if err != nil {
		return err
	}
	if ok {
		put()
	}
	return nil
}

func (f *folder) apply(ctx context.Context, e facts.Event) error {
	st := f.st
	var before *facts.Funnel
	if id := e.Data.DeliveryID; id != "" {
		var fn facts.Funnel
		if err := f.load(ctx, kindDelivery, id, func() (any, func()) {
			return &fn, func() { st.Deliveries[id] = fn }
		}); err != nil {
			return err
		}
		if cur, ok := st.Deliveries[id]; ok {
			before = &cur
		}
	}
	k := facts.Touched(e, before)
	var rs facts.RepoStats
	if err := f.load(ctx, kindRepo, k.Repo, func() (any, func()) { return &rs, func() { st.Repos[k.Repo] = rs } }); err != nil {
		return err
	}
	var hb facts.HourBucket
	if err := f.load(ctx, kindHour, strconv.FormatInt(k.Hour, 10), func() (any, func()) { return &hb, func() { st.Hours[k.Hour] = hb } }); err != nil {
		return err
	}
	var rm facts.RepoMinute
	if err := f.load(ctx, kindMinute, minuteKey(k.Minute), func() (any, func()) { return &rm, func() { st.RepoMinutes[k.Minute] = rm } }); err != nil {
		return err
	}
	for _, h := range k.LatencyHours {
		var hist facts.Histogram
		if err := f.load(ctx, kindLatency, strconv.FormatInt(h, 10), func() (any, func()) { return &hist, func() { st.Latency[h] = hist } }); err != nil {
			return err
		}
	}
	if failure := facts.Apply(st, e); failure != nil {
		f.failures = append(f.failures, *failure)
	}
	return nil
}

// flush writes every row the batch loaded or created.
func (f *folder) flush(ctx context.Context) error {
	st, tx := f.st, f.tx
	if err := putRow(ctx, tx, kindSummary, "global", 0, st.Summary); err != nil {
		return err
	}
	for repo, rs := range st.Repos {
		if err := putRow(ctx, tx, kindRepo, repo, ns(rs.LastEventAt), rs); err != nil {
			return err
		}
	}
	for h, b := range st.Hours {
		if err := putRow(ctx, tx, kindHour, strconv.FormatInt(h, 10), h, b); err != nil {
			return err
		}
	}
	for k, m := range st.RepoMinutes {
		if err := putRow(ctx, tx, kindMinute, minuteKey(k), k.Minute, m); err != nil {
			return err
		}
	}
	for id, fn := range st.Deliveries {
		if err := putRow(ctx, tx, kindDelivery, id, ns(fn.LastEventAt), fn); err != nil {
			return err
		}
	}
	for h, hist := range st.Latency {
		if err := putRow(ctx, tx, kindLatency, strconv.FormatInt(h, 10), h, hist); err != nil {
			return err
		}
	}
	for _, fl := range f.failures {
		if err := putRow(ctx, tx, kindFailure, fl.EventID, ns(fl.Time), fl); err != nil {
			return err
		}
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

func putRow(ctx context.Context, tx *wtx, kind, key string, sort int64, v any) error {
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
