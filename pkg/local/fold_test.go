package local

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

func foldN(t *testing.T, s *Store) int {
	t.Helper()
	n, err := s.Fold(ctx)
	if err != nil {
		t.Fatalf("Fold: %v", err)
	}
	return n
}

// Fold is idempotent by fact id (a fact published twice is stored and
// counted once) and by cursor (a second fold applies nothing).
func TestFoldIdempotent(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	t0 := c.Now()
	a := testEvent(facts.TypeRequestAccepted, t0, "d1", "acme/api")
	b := testEvent(facts.TypePlanCreated, t0.Add(time.Second), "d1", "acme/api")
	for range 2 {
		if err := s.Publish(ctx, a, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := foldN(t, s); n != 2 {
		t.Errorf("first fold applied %d facts, want 2", n)
	}
	if n := foldN(t, s); n != 0 {
		t.Errorf("second fold applied %d facts, want 0", n)
	}
	if err := s.Publish(ctx, b, a); err != nil { // again, after the fold
		t.Fatal(err)
	}
	if n := foldN(t, s); n != 0 {
		t.Errorf("fold after republishing applied %d facts, want 0", n)
	}
	sum, err := s.Summary(ctx)
	if err != nil || sum.Total != 2 || sum.RequestAccepted != 1 || sum.PlanCreated != 1 {
		t.Errorf("summary %+v %v, want each fact counted once", sum, err)
	}
}

// FoldLag reports the facts not folded yet and when the oldest of them was
// recorded (the store's clock), and nothing after Fold.
func TestFoldLag(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	lag := func() facts.FoldLag {
		t.Helper()
		l, err := s.FoldLag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := lag(); l.Pending != 0 || l.Oldest != 0 {
		t.Errorf("empty store: %+v", l)
	}
	first := c.Now()
	for i := range 3 {
		if err := s.Publish(ctx, testEvent(facts.TypeRequestAccepted, first.Add(-time.Hour), fmt.Sprint("d", i), "acme/api")); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Minute)
	}
	// The oldest pending fact was recorded at first; the clock is 3 minutes on.
	if l := lag(); l.Pending != 3 || l.Oldest != c.Now().Sub(first) {
		t.Errorf("lag %+v, want 3 pending, the oldest %v old", l, c.Now().Sub(first))
	}
	fold(t, s)
	if l := lag(); l.Pending != 0 || l.Oldest != 0 {
		t.Errorf("after Fold: %+v, want nothing pending", l)
	}
	if err := s.Publish(ctx, testEvent(facts.TypePlanCreated, first, "d0", "acme/api")); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second)
	if l := lag(); l.Pending != 1 || l.Oldest != time.Second {
		t.Errorf("lag %+v, want 1 pending recorded a second ago", l)
	}
}

// projectionRows is the whole projections table.
func projectionRows(t *testing.T, s *Store) map[string]string {
	t.Helper()
	rows, err := s.db.Query("SELECT kind, key, sort, value FROM projections")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var kind, key, value string
		var sort int64
		if err := rows.Scan(&kind, &key, &sort, &value); err != nil {
			t.Fatal(err)
		}
		out[kind+"|"+key] = fmt.Sprint(sort, " ", value)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Folding more than DefaultFoldBatch facts (several transactions) gives
// the same projections as folding them one by one, and as the reducer
// applied to an in-memory state.
func TestFoldInBatchesEqualsOneByOne(t *testing.T) {
	c := newClock()
	bulk := openTemp(t, c, Options{Synchronous: "NORMAL"})
	single := openTemp(t, c, Options{Synchronous: "NORMAL"})
	types := []string{facts.TypeRequestAccepted, facts.TypePlanCreated, facts.TypeTargetQueued, facts.TypeTargetDenied, facts.TypeTriggerSucceeded, facts.TypeTriggerFailed}
	want := facts.NewState()
	const n = DefaultFoldBatch + DefaultFoldBatch/2 + 7
	var evs []facts.Event
	seen := map[string]bool{}
	for i := 0; len(evs) < n; i++ {
		at := c.Now().Add(-time.Duration((i*7919)%(3*3600)) * time.Second)
		e := testEvent(types[(i*31)%len(types)], at, fmt.Sprintf("d%d", i%40), fmt.Sprintf("acme/r%d", i%5))
		e = target(e, fmt.Sprintf("t/%d", i%97))
		e.Data.Error = fmt.Sprintf("err %d", i)
		e.ID = facts.ID(e.Type, e.Data)
		if seen[e.ID] {
			continue // a fact id counts once; keep the facts distinct
		}
		seen[e.ID] = true
		evs = append(evs, e)
		facts.Apply(want, e)
	}
	// bulk: published in chunks, folded at once (several fold batches).
	for i := 0; i < n; i += 100 {
		if err := bulk.Publish(ctx, evs[i:min(i+100, n)]...); err != nil {
			t.Fatal(err)
		}
	}
	if got := foldN(t, bulk); got != n {
		t.Errorf("Fold applied %d facts, want %d", got, n)
	}
	// single: one fold per fact.
	for _, e := range evs {
		if err := single.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		if got := foldN(t, single); got != 1 {
			t.Fatalf("fold of one fact applied %d", got)
		}
	}
	a, b := projectionRows(t, bulk), projectionRows(t, single)
	if len(a) != len(b) {
		t.Errorf("%d projection rows folded in batches, %d one by one", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("row %s:\n batches   %s\n one by one %s", k, v, b[k])
		}
	}
	sum, _ := bulk.Summary(ctx)
	if !reflect.DeepEqual(sum.Counts, want.Summary.Counts) || !sum.LastEventAt.Equal(want.Summary.LastEventAt) || sum.Latency.Count != want.Summary.Latency.Count {
		t.Errorf("summary %+v, want %+v", sum, want.Summary)
	}
	repos, _ := bulk.RepoStats(ctx, 0)
	if len(repos) != len(want.Repos) {
		t.Errorf("%d repos, want %d", len(repos), len(want.Repos))
	}
	for _, rs := range repos {
		if w := want.Repos[rs.Repo]; w.Counts != rs.Counts || !w.LastEventAt.Equal(rs.LastEventAt) {
			t.Errorf("repo %s: %+v, want %+v", rs.Repo, rs, w)
		}
	}
	ds, _ := bulk.RecentDeliveries(ctx, 1000)
	if len(ds) != len(want.Deliveries) {
		t.Errorf("%d deliveries, want %d", len(ds), len(want.Deliveries))
	}
	for _, d := range ds {
		if w := want.Deliveries[d.DeliveryID]; !reflect.DeepEqual(normFunnel(d), normFunnel(w)) {
			t.Errorf("delivery %s:\n got %+v\nwant %+v", d.DeliveryID, d, w)
		}
	}
	trend, _ := bulk.HourlyTrend(ctx, 24)
	for _, h := range trend {
		if w := want.Hours[facts.HourKey(h.Hour)]; w.Counts != h.Counts {
			t.Errorf("hour %v: %+v, want %+v", h.Hour, h.Counts, w.Counts)
		}
	}
}
