package facts

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The 21 health-report vectors of the original (behaviour.md §10), in our
// own table.
func TestHealth(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := func() HealthInput {
		return HealthInput{Now: now, TotalEvents: 10, LastEventAt: now, Window: Counts{
			Total: 10, RequestAccepted: 5, PlanCreated: 5, TargetQueued: 5, TriggerSucceeded: 5,
		}}
	}
	check := func(t *testing.T, r HealthReport, id string) Check {
		t.Helper()
		for _, c := range r.Checks {
			if c.ID == id {
				return c
			}
		}
		t.Fatalf("no check %q in %+v", id, r.Checks)
		return Check{}
	}
	type tc struct {
		name   string
		modify func(*HealthInput)
		verify func(*testing.T, HealthReport)
	}
	wantCheck := func(id string, st Status, nfr string) func(*testing.T, HealthReport) {
		return func(t *testing.T, r HealthReport) {
			t.Helper()
			c := check(t, r, id)
			if c.Status != st || c.NFRRef != nfr {
				t.Errorf("%s = %s %s, want %s %s (%s)", id, c.Status, c.NFRRef, st, nfr, c.Detail)
			}
		}
	}
	lat := func(v ...float64) func(*HealthInput) {
		return func(in *HealthInput) { in.Latency = SummarizeLatencies(v) }
	}
	rate := func(s, f int64) func(*HealthInput) {
		return func(in *HealthInput) {
			in.Window.TriggerSucceeded, in.Window.TriggerFailed = s, f
			in.Window.TargetQueued = s + f
		}
	}
	ago := func(d time.Duration) func(*HealthInput) {
		return func(in *HealthInput) { in.LastEventAt = now.Add(-d) }
	}
	cases := []tc{
		{"1 planning backlog none", nil, wantCheck(CheckPlanningBacklog, StatusGreen, "NFR-01")},
		{"2 planning backlog 5", func(in *HealthInput) { in.Window.RequestAccepted = 10 }, wantCheck(CheckPlanningBacklog, StatusAmber, "NFR-01")},
		{"3 planning backlog 15", func(in *HealthInput) { in.Window.RequestAccepted = 20 }, wantCheck(CheckPlanningBacklog, StatusRed, "NFR-01")},
		{"4 dispatch backlog none", nil, wantCheck(CheckDispatchBacklog, StatusGreen, "NFR-01")},
		{"5 dispatch backlog 40", func(in *HealthInput) { in.Window.TargetQueued, in.Window.TriggerSucceeded = 50, 10 }, wantCheck(CheckDispatchBacklog, StatusRed, "NFR-01")},
		{"6 latency check without latencies", nil, wantCheck(CheckEndToEndLatency, StatusUnknown, "NFR-02")},
		{"7 latency 25,60", lat(25, 60), wantCheck(CheckEndToEndLatency, StatusGreen, "NFR-02")},
		{"8 latency 90", lat(90), wantCheck(CheckEndToEndLatency, StatusAmber, "NFR-02")},
		{"9 latency 150", lat(150), wantCheck(CheckEndToEndLatency, StatusRed, "NFR-02")},
		{"10 latency detail", lat(20), func(t *testing.T, r HealthReport) {
			d := check(t, r, CheckEndToEndLatency).Detail
			if !strings.Contains(d, "NFR-02") || !strings.Contains(d, "30s") {
				t.Errorf("detail %q lacks NFR-02 / 30s", d)
			}
		}},
		{"11 success 100/0", rate(100, 0), wantCheck(CheckTriggerSuccessRate, StatusGreen, "NFR-04")},
		{"12 success 95/5 boundary", rate(95, 5), wantCheck(CheckTriggerSuccessRate, StatusGreen, "NFR-04")},
		{"13 success 85/15", rate(85, 15), wantCheck(CheckTriggerSuccessRate, StatusAmber, "NFR-04")},
		{"14 success 70/30", rate(70, 30), wantCheck(CheckTriggerSuccessRate, StatusRed, "NFR-04")},
		{"15 recency 2 min", ago(2 * time.Minute), wantCheck(CheckEventRecency, StatusGreen, "NFR-11")},
		{"16 recency 20 min", ago(20 * time.Minute), wantCheck(CheckEventRecency, StatusAmber, "NFR-11")},
		{"17 recency 60 min", ago(60 * time.Minute), wantCheck(CheckEventRecency, StatusRed, "NFR-11")},
		{"18 no events", func(in *HealthInput) { *in = HealthInput{Now: now} }, func(t *testing.T, r HealthReport) {
			if r.Status != StatusUnknown || len(r.Checks) != 1 || r.Checks[0].ID != CheckEventsSeen ||
				!slices.Equal(r.Reasons, []string{"No events recorded yet"}) {
				t.Errorf("got %+v", r)
			}
		}},
		{"19 all five checks in order", nil, func(t *testing.T, r HealthReport) {
			var ids []string
			for _, c := range r.Checks {
				ids = append(ids, c.ID)
			}
			want := []string{CheckEventRecency, CheckTriggerSuccessRate, CheckPlanningBacklog, CheckDispatchBacklog, CheckEndToEndLatency}
			if !slices.Equal(ids, want) {
				t.Errorf("ids %v, want %v", ids, want)
			}
		}},
		{"20 every check has an nfr ref", nil, func(t *testing.T, r HealthReport) {
			for _, c := range r.Checks {
				if c.NFRRef == "" {
					t.Errorf("check %s has no nfr ref", c.ID)
				}
			}
		}},
		{"21 60/40 overall red", rate(60, 40), func(t *testing.T, r HealthReport) {
			if r.Status != StatusRed {
				t.Errorf("status %s, want red", r.Status)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			if c.modify != nil {
				c.modify(&in)
			}
			c.verify(t, Health(in))
		})
	}
}

func TestHealthDetailsAndReasons(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	in := HealthInput{Now: now, TotalEvents: 7, LastEventAt: now.Add(-15 * time.Minute),
		Window: Counts{RequestAccepted: 8, PlanCreated: 5, TargetQueued: 9, TriggerSucceeded: 1}}
	r := Health(in)
	want := map[string]string{
		CheckEventRecency:       "Last event 15 min ago (green <= 15, amber <= 45, red > 45).",
		CheckTriggerSuccessRate: "100% (green >= 95%, amber >= 80%, red < 80%).",
		CheckPlanningBacklog:    "3 requests waiting to be planned (green <= 3, amber <= 10, red > 10).",
		CheckDispatchBacklog:    "8 queued targets without outcome (green <= 8, amber <= 25, red > 25).",
		CheckEndToEndLatency:    "Not enough successful delivery journeys yet to compute latency.",
	}
	for _, c := range r.Checks {
		if c.Detail != want[c.ID] {
			t.Errorf("%s detail %q, want %q", c.ID, c.Detail, want[c.ID])
		}
		if c.ID != CheckEndToEndLatency && c.Status != StatusGreen {
			t.Errorf("%s at boundary is %s, want green", c.ID, c.Status)
		}
	}
	// Unknown never lowers the overall status, but it is a reason.
	if r.Status != StatusGreen {
		t.Errorf("status %s, want green", r.Status)
	}
	wantReasons := []string{"End-to-end latency (request to first success): Not enough successful delivery journeys yet to compute latency."}
	if !slices.Equal(r.Reasons, wantReasons) {
		t.Errorf("reasons %q, want %q", r.Reasons, wantReasons)
	}

	in.Latency = SummarizeLatencies([]float64{12.5})
	in.Window = Counts{}
	r = Health(in)
	if !slices.Equal(r.Reasons, []string{"Trigger success rate: No trigger outcomes yet"}) {
		t.Errorf("reasons %q", r.Reasons)
	}
	if d := r.Checks[4].Detail; d != "P95 12.5s over 1 deliveries (green <= 60s, amber <= 120s, red > 120s). NFR-02 target: ≤30s Lambda processing time." {
		t.Errorf("latency detail %q", d)
	}

	in.Latency = LatencySummary{}
	in.Window = Counts{TriggerSucceeded: 1}
	r = Health(in)
	if !slices.Equal(r.Reasons, wantReasons) || r.Status != StatusGreen {
		t.Errorf("reasons %q status %s", r.Reasons, r.Status)
	}
	in.Latency = SummarizeLatencies([]float64{1})
	r = Health(in)
	if !slices.Equal(r.Reasons, []string{"All checks within expected operating thresholds."}) {
		t.Errorf("all-green reasons %q", r.Reasons)
	}

	// A window that starts mid-delivery can make a difference negative.
	in.Window = Counts{PlanCreated: 3, TriggerSucceeded: 4}
	r = Health(in)
	if d := r.Checks[2].Detail; !strings.HasPrefix(d, "0 requests") {
		t.Errorf("negative backlog shown as %q", d)
	}
	// No last-event timestamp.
	in.LastEventAt = time.Time{}
	r = Health(in)
	if c := r.Checks[0]; c.Status != StatusUnknown || c.Detail != "No last-event timestamp available" {
		t.Errorf("recency without timestamp: %+v", c)
	}
}

// The histogram's estimated percentiles classify the original's latency
// vectors like the exact values do, because the thresholds are bucket
// bounds.
func TestHealthWithHistogramLatency(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		secs []float64
		want Status
	}{{[]float64{25, 60}, StatusGreen}, {[]float64{90}, StatusAmber}, {[]float64{150}, StatusRed}, {[]float64{60.001}, StatusAmber}, {[]float64{120}, StatusAmber}} {
		var h Histogram
		for _, s := range c.secs {
			h.Add(time.Duration(s * float64(time.Second)))
		}
		r := Health(HealthInput{Now: now, TotalEvents: 1, LastEventAt: now, Latency: h.Summary()})
		if got := r.Checks[4].Status; got != c.want {
			t.Errorf("%v: %s, want %s (%s)", c.secs, got, c.want, r.Checks[4].Detail)
		}
	}
}
