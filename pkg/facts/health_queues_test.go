package facts

import (
	"strings"
	"testing"
	"time"
)

func findCheck(r HealthReport, id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// The checks added to the original's five, at every threshold edge.
func TestHealthQueueDLQAndFoldLagEdges(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := HealthInput{Now: now, TotalEvents: 10, LastEventAt: now,
		Window: Counts{RequestAccepted: 1, PlanCreated: 1, TargetQueued: 1, TriggerSucceeded: 1}}
	queue := func(age time.Duration, visible, dead int64) []QueueDepth {
		q := QueueDepth{Name: "targets", Visible: visible, DeadLetters: dead}
		if visible > 0 {
			q.OldestVisibleAt = now.Add(-age)
		}
		return []QueueDepth{{Name: "requests"}, q}
	}
	cases := []struct {
		name   string
		queues []QueueDepth
		lag    *FoldLag
		id     string
		want   Status
		detail string
	}{
		{"queue empty", queue(0, 0, 0), nil, CheckQueueBacklog, StatusGreen, "0 messages waiting (requests 0, targets 0); oldest 0s (green <= 60s, amber <= 300s, red > 300s)."},
		{"queue 60s", queue(60*time.Second, 3, 0), nil, CheckQueueBacklog, StatusGreen, "3 messages waiting (requests 0, targets 3); oldest 60s"},
		{"queue 60s+1ms", queue(60*time.Second+time.Millisecond, 3, 0), nil, CheckQueueBacklog, StatusAmber, ""},
		{"queue 300s", queue(300*time.Second, 1, 0), nil, CheckQueueBacklog, StatusAmber, ""},
		{"queue 300s+1ms", queue(300*time.Second+time.Millisecond, 1, 0), nil, CheckQueueBacklog, StatusRed, ""},
		{"dlq 0", queue(0, 0, 0), nil, CheckDeadLetters, StatusGreen, "0 dead letters (requests 0, targets 0) (green 0, amber <= 10, red > 10)."},
		{"dlq 1", queue(0, 0, 1), nil, CheckDeadLetters, StatusAmber, "dispatcher replay-dlq"},
		{"dlq 10", queue(0, 0, 10), nil, CheckDeadLetters, StatusAmber, ""},
		{"dlq 11", queue(0, 0, 11), nil, CheckDeadLetters, StatusRed, ""},
		{"fold none", nil, &FoldLag{}, CheckFoldLag, StatusGreen, "0 facts not yet folded; oldest 0s (green <= 30s, amber <= 300s, red > 300s)."},
		{"fold 30s", nil, &FoldLag{Pending: 4, Oldest: 30 * time.Second}, CheckFoldLag, StatusGreen, "4 facts not yet folded; oldest 30s"},
		{"fold 30s+1ms", nil, &FoldLag{Pending: 4, Oldest: 30*time.Second + time.Millisecond}, CheckFoldLag, StatusAmber, ""},
		{"fold 300s", nil, &FoldLag{Pending: 1, Oldest: 300 * time.Second}, CheckFoldLag, StatusAmber, ""},
		{"fold 300s+1ms", nil, &FoldLag{Pending: 1, Oldest: 300*time.Second + time.Millisecond}, CheckFoldLag, StatusRed, ""},
		{"fold age without pending is ignored", nil, &FoldLag{Oldest: time.Hour}, CheckFoldLag, StatusGreen, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base
			in.Queues, in.FoldLag = c.queues, c.lag
			r := Health(in)
			got, ok := findCheck(r, c.id)
			if !ok {
				t.Fatalf("no %s check in %+v", c.id, r.Checks)
			}
			if got.Status != c.want || !strings.Contains(got.Detail, c.detail) || got.NFRRef == "" {
				t.Errorf("%s = %s %q (nfr %q), want %s containing %q", c.id, got.Status, got.Detail, got.NFRRef, c.want, c.detail)
			}
			if c.want == StatusRed && r.Status != StatusRed {
				t.Errorf("overall %s, want red", r.Status)
			}
		})
	}
}

// Without queue depths or fold lag the report has the original's five
// checks; with them, eight in a fixed order.
func TestHealthOptionalChecks(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	in := HealthInput{Now: now, TotalEvents: 1, LastEventAt: now}
	if n := len(Health(in).Checks); n != 5 {
		t.Errorf("%d checks without queues, want 5", n)
	}
	in.Queues, in.FoldLag = []QueueDepth{{Name: "requests"}}, &FoldLag{}
	var ids []string
	for _, c := range Health(in).Checks {
		ids = append(ids, c.ID)
	}
	want := "event_recency trigger_success_rate planning_backlog dispatch_backlog end_to_end_latency queue_backlog dead_letters projection_fold_lag"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("checks %s, want %s", got, want)
	}
}

// An idle system is green: the recency thresholds apply only while work
// waits (in a queue or in the window's backlogs).
func TestHealthIdleIsGreen(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	idleIn := HealthInput{Now: now, TotalEvents: 9, LastEventAt: now.Add(-3 * time.Hour),
		Window:  Counts{RequestAccepted: 1, PlanCreated: 1, TargetQueued: 1, TriggerSucceeded: 1},
		Latency: SummarizeLatencies([]float64{5}),
		Queues:  []QueueDepth{{Name: "requests"}, {Name: "targets"}}, FoldLag: &FoldLag{}}
	r := Health(idleIn)
	c, _ := findCheck(r, CheckEventRecency)
	if r.Status != StatusGreen || c.Status != StatusGreen || !strings.HasPrefix(c.Detail, "Idle: last event 180 min ago") {
		t.Errorf("idle: overall %s, recency %s %q", r.Status, c.Status, c.Detail)
	}
	recent := idleIn
	recent.LastEventAt = now.Add(-2 * time.Minute)
	if c, _ := findCheck(Health(recent), CheckEventRecency); c.Status != StatusGreen || !strings.HasPrefix(c.Detail, "Last event 2 min ago") {
		t.Errorf("recent and idle: %s %q", c.Status, c.Detail)
	}
	for name, mod := range map[string]func(*HealthInput){
		"a message waits":       func(in *HealthInput) { in.Queues = []QueueDepth{{Name: "requests", Visible: 1, OldestVisibleAt: now}} },
		"a message in flight":   func(in *HealthInput) { in.Queues = []QueueDepth{{Name: "targets", InFlight: 1}} },
		"a plan is pending":     func(in *HealthInput) { in.Window.RequestAccepted = 2 },
		"a dispatch is pending": func(in *HealthInput) { in.Window.TargetQueued = 2 },
		"queues unknown":        func(in *HealthInput) { in.Queues = nil },
	} {
		in := idleIn
		mod(&in)
		c, _ := findCheck(Health(in), CheckEventRecency)
		if c.Status != StatusRed || !strings.HasPrefix(c.Detail, "Last event 180 min ago") {
			t.Errorf("%s: recency %s %q, want red", name, c.Status, c.Detail)
		}
	}
}

// The original five checks on both sides of every threshold: a boundary
// belongs to the better status.
func TestHealthOriginalEdges(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := func() HealthInput {
		return HealthInput{Now: now, TotalEvents: 1, LastEventAt: now,
			Window: Counts{RequestAccepted: 100, PlanCreated: 100, TargetQueued: 100, TriggerSucceeded: 100}}
	}
	ago := func(d time.Duration) func(*HealthInput) {
		return func(in *HealthInput) { in.LastEventAt = now.Add(-d) }
	}
	rate := func(ok, failed int64) func(*HealthInput) {
		return func(in *HealthInput) {
			in.Window.TriggerSucceeded, in.Window.TriggerFailed, in.Window.TargetQueued = ok, failed, ok+failed
		}
	}
	plan := func(pending int64) func(*HealthInput) {
		return func(in *HealthInput) { in.Window.RequestAccepted = in.Window.PlanCreated + pending }
	}
	dispatch := func(pending int64) func(*HealthInput) {
		return func(in *HealthInput) { in.Window.TargetQueued = in.Window.TriggerSucceeded + pending }
	}
	p95 := func(s float64) func(*HealthInput) {
		return func(in *HealthInput) { in.Latency = SummarizeLatencies([]float64{s}) }
	}
	for _, c := range []struct {
		id   string
		mod  func(*HealthInput)
		want Status
	}{
		{CheckEventRecency, ago(15 * time.Minute), StatusGreen},
		{CheckEventRecency, ago(15*time.Minute + time.Millisecond), StatusAmber},
		{CheckEventRecency, ago(45 * time.Minute), StatusAmber},
		{CheckEventRecency, ago(45*time.Minute + time.Millisecond), StatusRed},
		{CheckTriggerSuccessRate, rate(95, 5), StatusGreen},
		{CheckTriggerSuccessRate, rate(9499, 501), StatusAmber},
		{CheckTriggerSuccessRate, rate(80, 20), StatusAmber},
		{CheckTriggerSuccessRate, rate(7999, 2001), StatusRed},
		{CheckPlanningBacklog, plan(3), StatusGreen},
		{CheckPlanningBacklog, plan(4), StatusAmber},
		{CheckPlanningBacklog, plan(10), StatusAmber},
		{CheckPlanningBacklog, plan(11), StatusRed},
		{CheckDispatchBacklog, dispatch(8), StatusGreen},
		{CheckDispatchBacklog, dispatch(9), StatusAmber},
		{CheckDispatchBacklog, dispatch(25), StatusAmber},
		{CheckDispatchBacklog, dispatch(26), StatusRed},
		{CheckEndToEndLatency, p95(60), StatusGreen},
		{CheckEndToEndLatency, p95(60.001), StatusAmber},
		{CheckEndToEndLatency, p95(120), StatusAmber},
		{CheckEndToEndLatency, p95(120.001), StatusRed},
	} {
		in := base()
		c.mod(&in)
		got, _ := findCheck(Health(in), c.id)
		if got.Status != c.want {
			t.Errorf("%s: %s (%s), want %s", c.id, got.Status, got.Detail, c.want)
		}
	}
}
