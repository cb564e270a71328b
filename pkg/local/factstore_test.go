package local

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

func testEvent(typ string, at time.Time, delivery, repo string) facts.Event {
	return facts.New(typ, at, facts.Data{DeliveryID: delivery, SourceRepo: repo, SourceWorkflow: "ci.yml", SourceRunID: 42, RunAttempt: 1})
}

func target(e facts.Event, repo string) facts.Event {
	e.Data.TargetRepo, e.Data.TargetWorkflow = repo, "cd.yml"
	e.ID = facts.ID(e.Type, e.Data)
	return e
}

func TestPublishIdempotent(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	t0 := c.Now()
	acc := testEvent(facts.TypeRequestAccepted, t0, "d1", "acme/api")
	ok := target(testEvent(facts.TypeTriggerSucceeded, t0.Add(2*time.Second), "d1", "acme/api"), "acme/deploy")
	if err := s.Publish(ctx, acc, acc); err != nil { // twice in one call
		t.Fatal(err)
	}
	if err := s.Publish(ctx, ok, acc); err != nil { // and again later
		t.Fatal(err)
	}
	if err := s.Publish(ctx, ok); err != nil {
		t.Fatal(err)
	}
	fold(t, s)
	sum, _ := s.Summary(ctx)
	if sum.Total != 2 || sum.RequestAccepted != 1 || sum.TriggerSucceeded != 1 || sum.Latency.Count != 1 {
		t.Errorf("summary %+v", sum)
	}
	j, err := s.Journey(ctx, "d1")
	if err != nil || len(j) != 2 || j[0].ID != acc.ID || j[1].ID != ok.ID || !j[1].Time.Equal(ok.Time) || j[1].Data.TargetRepo != "acme/deploy" {
		t.Errorf("journey %+v %v", j, err)
	}
	if err := s.Publish(ctx, facts.Event{Type: facts.TypeRequestAccepted}); !errors.Is(err, ErrInvalidFact) {
		t.Errorf("invalid fact: %v", err)
	}
}

// A failure in the middle of a publish leaves nothing applied: not the
// event rows, not a single projection row, not the earlier facts of the
// same call.
func TestPublishAtomic(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	t0 := c.Now()
	e1 := testEvent(facts.TypeRequestAccepted, t0, "d1", "acme/api")
	e2 := testEvent(facts.TypePlanCreated, t0.Add(time.Second), "d1", "acme/api")
	s.w.hook = func(int) error { return errors.New("disk on fire") }
	if err := s.Publish(ctx, e1, e2); err == nil {
		t.Fatal("publish succeeded despite the failure")
	}
	var events, rows int
	s.DB().QueryRow("SELECT COUNT(*) FROM events").Scan(&events)
	s.DB().QueryRow("SELECT COUNT(*) FROM projections").Scan(&rows)
	if events != 0 || rows != 0 {
		t.Fatalf("half-applied: %d events, %d projection rows", events, rows)
	}
	s.w.hook = nil
	if err := s.Publish(ctx, e1, e2); err != nil {
		t.Fatal(err)
	}
	fold(t, s)
	fold(t, s)
	sum, _ := s.Summary(ctx)
	if sum.Total != 2 || sum.RequestAccepted != 1 || sum.PlanCreated != 1 {
		t.Errorf("after retry: %+v", sum)
	}
}

// The stored read models equal the pure reducer's over a random stream
// with duplicates and out-of-order times.
func TestProjectionsMatchReducer(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	r := rand.New(rand.NewPCG(7, 9))
	types := []string{facts.TypeRequestAccepted, facts.TypePlanCreated, facts.TypeTargetQueued, facts.TypeTargetDenied, facts.TypeTriggerSucceeded, facts.TypeTriggerFailed}
	want := facts.NewState()
	applied := map[string]bool{}
	var all []facts.Event
	for i := range 400 {
		var e facts.Event
		if len(all) > 0 && r.IntN(5) == 0 {
			e = all[r.IntN(len(all))] // duplicate
		} else {
			at := c.Now().Add(-time.Duration(r.IntN(3*3600)) * time.Second)
			e = testEvent(types[r.IntN(len(types))], at, fmt.Sprintf("d%d", r.IntN(30)), fmt.Sprintf("acme/r%d", r.IntN(4)))
			e = target(e, fmt.Sprintf("t/%d", i))
			e.Data.Error = fmt.Sprintf("err %d", i)
			e.ID = facts.ID(e.Type, e.Data)
			all = append(all, e)
		}
		if !applied[e.ID] {
			applied[e.ID] = true
			facts.Apply(want, e)
		}
		if err := s.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	fold(t, s)
	sum, _ := s.Summary(ctx)
	if !reflect.DeepEqual(sum.Counts, want.Summary.Counts) || !sum.LastEventAt.Equal(want.Summary.LastEventAt) || sum.Latency.Count != want.Summary.Latency.Count {
		t.Errorf("summary %+v, want %+v", sum, want.Summary)
	}
	repos, _ := s.RepoStats(ctx, 0)
	if len(repos) != len(want.Repos) {
		t.Fatalf("%d repos, want %d", len(repos), len(want.Repos))
	}
	for i, rs := range repos {
		if w := want.Repos[rs.Repo]; w.Counts != rs.Counts || !w.LastEventAt.Equal(rs.LastEventAt) {
			t.Errorf("repo %s: %+v, want %+v", rs.Repo, rs, w)
		}
		if i > 0 && repos[i-1].LastEventAt.Before(rs.LastEventAt) {
			t.Errorf("repo stats not sorted by last event")
		}
	}
	ds, _ := s.RecentDeliveries(ctx, 1000)
	if len(ds) != len(want.Deliveries) {
		t.Fatalf("%d deliveries, want %d", len(ds), len(want.Deliveries))
	}
	for _, d := range ds {
		w := want.Deliveries[d.DeliveryID]
		if !reflect.DeepEqual(normFunnel(d), normFunnel(w)) {
			t.Errorf("delivery %s:\n got %+v\nwant %+v", d.DeliveryID, d, w)
		}
	}
	trend, _ := s.HourlyTrend(ctx, 24)
	for _, b := range trend {
		if w := want.Hours[facts.HourKey(b.Hour)]; w.Counts != b.Counts {
			t.Errorf("hour %v: %+v, want %+v", b.Hour, b.Counts, w.Counts)
		}
	}
	fails, _ := s.RecentFailures(ctx, 1000)
	if len(fails) != len(want.Failures) {
		t.Errorf("%d failures, want %d", len(fails), len(want.Failures))
	}
	var wantLat []facts.Histogram
	for _, h := range want.Latency {
		wantLat = append(wantLat, h)
	}
	lat, _ := s.Latency(ctx, 24*time.Hour)
	if w := facts.MergeHistograms(wantLat...).Summary(); !reflect.DeepEqual(lat, w) {
		t.Errorf("latency %+v, want %+v", lat, w)
	}
}

// normFunnel drops time zones and pointer identity for comparison.
func normFunnel(f facts.Funnel) string {
	l := derefF(f.LatencySeconds)
	el := derefB(f.Eligible)
	f.LatencySeconds, f.Eligible = nil, nil
	return fmt.Sprintf("%+v %v %v", f, l, el)
}

func derefB(p *bool) any {
	if p == nil {
		return nil
	}
	return *p
}

func derefF(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestReadModels(t *testing.T) {
	c := newClock() // 12:30
	s := openTemp(t, c, Options{})
	now := c.Now()
	yes := true
	pub := func(es ...facts.Event) {
		t.Helper()
		if err := s.Publish(ctx, es...); err != nil {
			t.Fatal(err)
		}
	}
	// d1: acme/api, 3 hours ago, accepted → planned → 1 queued → success after 20 s.
	h3 := now.Add(-3 * time.Hour)
	plan := testEvent(facts.TypePlanCreated, h3.Add(time.Second), "d1", "acme/api")
	plan.Data.Eligible = &yes
	pub(testEvent(facts.TypeRequestAccepted, h3, "d1", "acme/api"), plan,
		target(testEvent(facts.TypeTargetQueued, h3.Add(2*time.Second), "d1", "acme/api"), "acme/deploy"),
		target(testEvent(facts.TypeTriggerSucceeded, h3.Add(20*time.Second), "d1", "acme/api"), "acme/deploy"))
	// d2: acme/web, 10 minutes ago, failed.
	m10 := now.Add(-10 * time.Minute)
	fail := target(testEvent(facts.TypeTriggerFailed, m10.Add(3*time.Second), "d2", "acme/web"), "acme/site")
	fail.Data.Error, fail.Data.Attempts = "422 Unexpected inputs", 1
	fail.ID = facts.ID(fail.Type, fail.Data)
	pub(testEvent(facts.TypeRequestAccepted, m10, "d2", "acme/web"), testEvent(facts.TypePlanCreated, m10.Add(time.Second), "d2", "acme/web"),
		target(testEvent(facts.TypeTargetQueued, m10.Add(2*time.Second), "d2", "acme/web"), "acme/site"), fail)
	// d3: acme/web, 2 minutes ago, accepted only; d4: acme/api now.
	pub(testEvent(facts.TypeRequestAccepted, now.Add(-2*time.Minute), "d3", "acme/web"),
		testEvent(facts.TypeRequestAccepted, now, "d4", "acme/api"))

	fold(t, s)
	sum, _ := s.Summary(ctx)
	if sum.Total != 10 || sum.RequestAccepted != 4 || sum.TriggerFailed != 1 || !sum.LastEventAt.Equal(now) {
		t.Errorf("summary %+v", sum)
	}
	trend, _ := s.HourlyTrend(ctx, 24)
	if len(trend) != 24 || trend[23].Total != 6 || trend[20].Total != 4 || trend[21].Total != 0 || !trend[23].Hour.Equal(now.Truncate(time.Hour)) {
		t.Errorf("trend: last %+v, -3h %+v", trend[23], trend[20])
	}
	top5, _ := s.TopRepos(ctx, 5, 10)
	if !slices.Equal(top5, []facts.RepoCount{{Repo: "acme/api", Count: 1}, {Repo: "acme/web", Count: 1}}) {
		t.Errorf("top 5 min: %+v", top5)
	}
	top15, _ := s.TopRepos(ctx, 15, 10)
	if !slices.Equal(top15, []facts.RepoCount{{Repo: "acme/web", Count: 5}, {Repo: "acme/api", Count: 1}}) {
		t.Errorf("top 15 min: %+v", top15)
	}
	if top60, _ := s.TopRepos(ctx, 60, 1); !slices.Equal(top60, []facts.RepoCount{{Repo: "acme/web", Count: 5}}) {
		t.Errorf("top 60 min limit 1: %+v", top60)
	}
	if _, err := s.TopRepos(ctx, 500, 10); err == nil {
		t.Error("top repos over 500 minutes accepted")
	}
	ds, _ := s.RecentDeliveries(ctx, 10)
	var order []string
	for _, d := range ds {
		order = append(order, d.DeliveryID+":"+d.Status)
	}
	if !slices.Equal(order, []string{"d4:in_progress", "d3:in_progress", "d2:failed", "d1:success"}) {
		t.Errorf("deliveries %v", order)
	}
	d1, ok, _ := s.Delivery(ctx, "d1")
	if !ok || d1.LatencySeconds == nil || *d1.LatencySeconds != 20 || d1.Queued != 1 || !d1.AcceptedAt.Equal(h3) {
		t.Errorf("d1 %+v", d1)
	}
	if _, ok, _ := s.Delivery(ctx, "nope"); ok {
		t.Error("unknown delivery found")
	}
	fs, _ := s.RecentFailures(ctx, 5)
	if len(fs) != 1 || fs[0].Error != "422 Unexpected inputs" || fs[0].TargetRepo != "acme/site" || fs[0].DeliveryID != "d2" {
		t.Errorf("failures %+v", fs)
	}
	ev, _ := s.RecentEvents(ctx, 3)
	if len(ev) != 3 || ev[0].Data.DeliveryID != "d4" || ev[1].Data.DeliveryID != "d3" || ev[2].Type != facts.TypeTriggerFailed {
		t.Errorf("recent events %+v", ev)
	}

	in, err := s.HealthInput(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantWin := facts.Counts{Total: 10, RequestAccepted: 4, PlanCreated: 2, TargetQueued: 2, TriggerSucceeded: 1, TriggerFailed: 1}
	if in.TotalEvents != 10 || in.Window != wantWin || in.Latency.Count != 1 || *in.Latency.P95Seconds != 20 {
		t.Errorf("health input %+v", in)
	}
	rep, _ := s.Health(ctx)
	// 50% success → red; 2 requests waiting to be planned → green.
	if rep.Status != facts.StatusRed || rep.Checks[1].Status != facts.StatusRed || rep.Checks[2].Detail[:1] != "2" {
		t.Errorf("health %+v", rep)
	}
	// A day later the window has moved on: backlogs and rate are empty, the
	// all-time total is kept, recency is red.
	c.Add(25 * time.Hour)
	in, _ = s.HealthInput(ctx)
	if in.TotalEvents != 10 || in.Window != (facts.Counts{}) || in.Latency.Count != 0 {
		t.Errorf("health input a day later %+v", in)
	}
	if rep, _ := s.Health(ctx); rep.Checks[0].Status != facts.StatusRed || rep.Checks[1].Status != facts.StatusUnknown {
		t.Errorf("health a day later %+v", rep.Checks)
	}
	// Empty store: unknown.
	if rep, _ := openTemp(t, c, Options{}).Health(ctx); rep.Status != facts.StatusUnknown {
		t.Errorf("empty store health %+v", rep)
	}
}
