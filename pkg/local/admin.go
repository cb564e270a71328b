package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// listRows decodes the rows of one kind ordered by sort (descending when
// desc), between from and to (inclusive), at most limit (0 = all).
func listRows[T any](ctx context.Context, s *Store, kind string, from, to int64, desc bool, limit int) ([]T, error) {
	q := "SELECT value FROM projections WHERE kind = ? AND sort BETWEEN ? AND ? ORDER BY sort"
	if desc {
		q += " DESC"
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, q, kind, from, to)
	if err != nil {
		return nil, fmt.Errorf("read %s rows: %w", kind, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read %s rows: %w", kind, err)
		}
		var v T
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return nil, fmt.Errorf("decode %s row: %w", kind, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s rows: %w", kind, err)
	}
	return out, nil
}

const maxSort = int64(^uint64(0) >> 1)
const minSort = -maxSort - 1

// Summary returns the global counters (zero before the first fact).
func (s *Store) Summary(ctx context.Context) (facts.Summary, error) {
	var sum facts.Summary
	if _, err := getRow(ctx, s.db, kindSummary, "global", &sum); err != nil {
		return facts.Summary{}, fmt.Errorf("summary: %w", err)
	}
	return sum, nil
}

// RepoStats returns per-repository counters, most recently active first
// (limit 0 = all).
func (s *Store) RepoStats(ctx context.Context, limit int) ([]facts.RepoStats, error) {
	return listRows[facts.RepoStats](ctx, s, kindRepo, minSort, maxSort, true, limit)
}

// HourlyTrend returns the last hours real UTC hours (24 when hours <= 0),
// oldest first, ending with the current hour; hours without facts are
// zero buckets.
func (s *Store) HourlyTrend(ctx context.Context, hours int) ([]facts.HourBucket, error) {
	if hours <= 0 {
		hours = 24
	}
	now := s.now()
	last := facts.HourKey(now)
	stored, err := listRows[facts.HourBucket](ctx, s, kindHour, last-int64(hours-1)*3600, last, false, 0)
	if err != nil {
		return nil, fmt.Errorf("hourly trend: %w", err)
	}
	return facts.FillHours(now, hours, stored), nil
}

// TopRepos returns the limit (10 when <= 0) busiest source repositories
// over the last minutes minutes (1 to 120; the current minute included),
// summed from per-minute buckets.
func (s *Store) TopRepos(ctx context.Context, minutes, limit int) ([]facts.RepoCount, error) {
	if minutes < 1 || time.Duration(minutes)*time.Minute > MinuteRetention {
		return nil, fmt.Errorf("top repos: window of %d minutes outside 1..%d", minutes, int(MinuteRetention.Minutes()))
	}
	if limit <= 0 {
		limit = 10
	}
	last := facts.MinuteOf(s.now())
	rows, err := listRows[facts.RepoMinute](ctx, s, kindMinute, last-int64(minutes-1)*60, last, false, 0)
	if err != nil {
		return nil, fmt.Errorf("top repos: %w", err)
	}
	return facts.TopRepos(rows, limit), nil
}

// RecentDeliveries returns delivery funnels, most recently updated first
// (limit 20 when <= 0).
func (s *Store) RecentDeliveries(ctx context.Context, limit int) ([]facts.Funnel, error) {
	if limit <= 0 {
		limit = 20
	}
	return listRows[facts.Funnel](ctx, s, kindDelivery, minSort, maxSort, true, limit)
}

// Delivery returns one delivery's funnel; ok is false when it is unknown.
func (s *Store) Delivery(ctx context.Context, deliveryID string) (f facts.Funnel, ok bool, err error) {
	ok, err = getRow(ctx, s.db, kindDelivery, deliveryID, &f)
	if err != nil {
		return facts.Funnel{}, false, fmt.Errorf("delivery %q: %w", deliveryID, err)
	}
	return f, ok, nil
}

// RecentFailures returns failed triggers, newest first (limit 20 when <= 0).
func (s *Store) RecentFailures(ctx context.Context, limit int) ([]facts.Failure, error) {
	if limit <= 0 {
		limit = 20
	}
	return listRows[facts.Failure](ctx, s, kindFailure, minSort, maxSort, true, limit)
}

func (s *Store) events(ctx context.Context, what, q string, args ...any) ([]facts.Event, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []facts.Event
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		var e facts.Event
		if err := json.Unmarshal([]byte(b), &e); err != nil {
			return nil, fmt.Errorf("%s: decode: %w", what, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Journey returns a delivery's facts in time order (ties in the order they
// were recorded).
func (s *Store) Journey(ctx context.Context, deliveryID string) ([]facts.Event, error) {
	return s.events(ctx, "journey of "+deliveryID,
		"SELECT event FROM events WHERE delivery_id = ? ORDER BY time, seq", deliveryID)
}

// RecentEvents returns the latest facts by time, newest first (limit 50
// when <= 0).
func (s *Store) RecentEvents(ctx context.Context, limit int) ([]facts.Event, error) {
	if limit <= 0 {
		limit = 50
	}
	return s.events(ctx, "recent events", "SELECT event FROM events ORDER BY time DESC, seq DESC LIMIT ?", limit)
}

// windowHours are the hour keys of the last d (rounded up to whole hours,
// at least one), ending with the current hour.
func windowHours(now time.Time, d time.Duration) (from, to int64) {
	n := int64((d + time.Hour - 1) / time.Hour)
	to = facts.HourKey(now)
	return to - (max(n, 1)-1)*3600, to
}

// Latency returns the end-to-end latency summary of the deliveries
// accepted in the last window (whole hours), estimated from the hourly
// histograms.
func (s *Store) Latency(ctx context.Context, window time.Duration) (facts.LatencySummary, error) {
	from, to := windowHours(s.now(), window)
	hs, err := listRows[facts.Histogram](ctx, s, kindLatency, from, to, false, 0)
	if err != nil {
		return facts.LatencySummary{}, fmt.Errorf("latency: %w", err)
	}
	return facts.MergeHistograms(hs...).Summary(), nil
}

// HealthInput gathers the health report's input: the all-time total and
// last event time from the summary, and the counters and latency of the
// hours in Options.HealthWindow (default the last 24 hours), so that a
// lost fact skews the backlogs for at most that window.
func (s *Store) HealthInput(ctx context.Context) (facts.HealthInput, error) {
	now := s.now()
	sum, err := s.Summary(ctx)
	if err != nil {
		return facts.HealthInput{}, fmt.Errorf("health: %w", err)
	}
	from, to := windowHours(now, s.opts.HealthWindow)
	hours, err := listRows[facts.HourBucket](ctx, s, kindHour, from, to, false, 0)
	if err != nil {
		return facts.HealthInput{}, fmt.Errorf("health: %w", err)
	}
	in := facts.HealthInput{Now: now, TotalEvents: sum.Total, LastEventAt: sum.LastEventAt}
	for _, h := range hours {
		in.Window.Merge(h.Counts)
	}
	if in.Latency, err = s.Latency(ctx, s.opts.HealthWindow); err != nil {
		return facts.HealthInput{}, fmt.Errorf("health: %w", err)
	}
	return in, nil
}

// Health computes the health report from HealthInput.
func (s *Store) Health(ctx context.Context) (facts.HealthReport, error) {
	in, err := s.HealthInput(ctx)
	if err != nil {
		return facts.HealthReport{}, err
	}
	return facts.Health(in), nil
}

// AdminView is the admin read side of a Store (it implements
// httpapi.AdminReader): the Store's read models plus the depths of the
// named work queues.
type AdminView struct {
	*Store
	queues []string
}

// AdminView returns the admin read side of s over the named work queues
// (e.g. "requests", "targets"), reported in that order.
func (s *Store) AdminView(queues ...string) *AdminView {
	return &AdminView{Store: s, queues: queues}
}

// Queues returns the depth of each work queue and of its dead-letter queue.
func (v *AdminView) Queues(ctx context.Context) ([]facts.QueueDepth, error) {
	out := make([]facts.QueueDepth, 0, len(v.queues))
	for _, name := range v.queues {
		st, err := v.Queue(name).Stats(ctx)
		if err != nil {
			return nil, fmt.Errorf("queue depths: %w", err)
		}
		out = append(out, facts.QueueDepth{
			Name: name, Visible: st.Visible, InFlight: st.NotVisible,
			DeadLetters: st.DeadLetters, OldestVisibleAt: st.OldestVisible,
		})
	}
	return out, nil
}
