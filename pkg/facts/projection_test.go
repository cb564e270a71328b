package facts

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)

func ev(typ string, at time.Duration, d Data) Event {
	if d.DeliveryID == "" {
		d.DeliveryID = "d1"
	}
	if d.SourceRepo == "" {
		d.SourceRepo = "acme/api"
	}
	d.SourceWorkflow = "ci.yml"
	d.SourceRunID = 42
	d.RunAttempt = 1
	return New(typ, t0.Add(at), d)
}

func TestApplyDelivery(t *testing.T) {
	s := NewState()
	yes := true
	events := []Event{
		ev(TypeRequestAccepted, 0, Data{}),
		ev(TypePlanCreated, time.Second, Data{Eligible: &yes}),
		ev(TypeTargetQueued, 2*time.Second, Data{TargetRepo: "acme/a", TargetWorkflow: "cd.yml"}),
		ev(TypeTargetQueued, 2*time.Second, Data{TargetRepo: "acme/b", TargetWorkflow: "cd.yml"}),
		ev(TypeTargetDenied, 2*time.Second, Data{TargetRepo: "acme/c", TargetWorkflow: "cd.yml", Reason: "inbound_not_authorized"}),
		ev(TypeTriggerSucceeded, 5*time.Second, Data{TargetRepo: "acme/a", TargetWorkflow: "cd.yml", Attempts: 1}),
	}
	for _, e := range events {
		if f := Apply(s, e); f != nil {
			t.Fatalf("%s added a failure", e.Type)
		}
	}
	f := s.Deliveries["d1"]
	if f.Status != DeliveryInProgress {
		t.Errorf("status %s with one outcome pending, want in_progress", f.Status)
	}
	fail := ev(TypeTriggerFailed, 7*time.Second, Data{TargetRepo: "acme/b", TargetWorkflow: "cd.yml", Attempts: 3, Error: "422 No ref found"})
	got := Apply(s, fail)
	if got == nil || got.Error != "422 No ref found" || got.TargetRepo != "acme/b" || got.EventID != fail.ID || got.Attempts != 3 {
		t.Fatalf("failure row %+v", got)
	}
	// A success processed late but earlier in time corrects the latency.
	Apply(s, ev(TypeTriggerSucceeded, 3*time.Second, Data{TargetRepo: "acme/x", TargetWorkflow: "cd.yml"}))

	want := Counts{Total: 8, RequestAccepted: 1, PlanCreated: 1, TargetQueued: 2, TargetDenied: 1, TriggerSucceeded: 2, TriggerFailed: 1}
	if s.Summary.Counts != want {
		t.Errorf("summary %+v, want %+v", s.Summary.Counts, want)
	}
	if !s.Summary.LastEventAt.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("last event %v moved backwards", s.Summary.LastEventAt)
	}
	if s.Repos["acme/api"].Counts != want || len(s.Repos) != 1 {
		t.Errorf("repos %+v", s.Repos)
	}
	if hb := s.Hours[HourKey(t0)]; hb.Counts != want || !hb.Hour.Equal(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("hour bucket %+v", hb)
	}
	if rm := s.RepoMinutes[MinuteKey{MinuteOf(t0), "acme/api"}]; rm.Count != 8 {
		t.Errorf("minute bucket %+v", rm)
	}
	f = s.Deliveries["d1"]
	if f.Accepted != 1 || f.Planned != 1 || f.Queued != 2 || f.Denied != 1 || f.Succeeded != 2 || f.Failed != 1 {
		t.Errorf("funnel counts %+v", f)
	}
	if f.Status != DeliveryPartial || f.LastError != "422 No ref found" || f.Eligible == nil || !*f.Eligible {
		t.Errorf("funnel %+v", f)
	}
	if !f.FirstSucceededAt.Equal(t0.Add(3*time.Second)) || f.LatencySeconds == nil || *f.LatencySeconds != 3 {
		t.Errorf("latency not corrected: first success %v latency %v", f.FirstSucceededAt, f.LatencySeconds)
	}
	if !f.FirstEventAt.Equal(t0) || !f.LastEventAt.Equal(t0.Add(7*time.Second)) {
		t.Errorf("first/last %v %v", f.FirstEventAt, f.LastEventAt)
	}
	h := s.Latency[HourKey(t0)]
	if h.Count != 1 || h.SumMillis != 3000 || s.Summary.Latency.Count != 1 {
		t.Errorf("latency histogram holds %d observations (sum %d ms), want exactly one of 3 s", h.Count, h.SumMillis)
	}
	if len(s.Failures) != 1 {
		t.Errorf("failures %+v", s.Failures)
	}
}

func TestDeliveryStatus(t *testing.T) {
	no := false
	cases := []struct {
		name   string
		events []Event
		want   string
	}{
		{"accepted only", []Event{ev(TypeRequestAccepted, 0, Data{})}, DeliveryInProgress},
		{"not eligible", []Event{ev(TypeRequestAccepted, 0, Data{}), ev(TypePlanCreated, 1, Data{Eligible: &no, Reason: "source_from_fork"})}, DeliveryNoDispatch},
		{"all success", []Event{ev(TypePlanCreated, 1, Data{}), ev(TypeTargetQueued, 2, Data{TargetRepo: "a/b"}), ev(TypeTriggerSucceeded, 3, Data{TargetRepo: "a/b"})}, DeliverySuccess},
		{"all failed", []Event{ev(TypePlanCreated, 1, Data{}), ev(TypeTargetQueued, 2, Data{TargetRepo: "a/b"}), ev(TypeTriggerFailed, 3, Data{TargetRepo: "a/b"})}, DeliveryFailed},
		{"outcome before plan", []Event{ev(TypeTriggerSucceeded, 3, Data{TargetRepo: "a/b"})}, DeliverySuccess},
	}
	for _, c := range cases {
		s := NewState()
		for _, e := range c.events {
			Apply(s, e)
		}
		if got := s.Deliveries["d1"].Status; got != c.want {
			t.Errorf("%s: status %s, want %s", c.name, got, c.want)
		}
	}
}

func TestApplyWithoutDeliveryOrRepo(t *testing.T) {
	s := NewState()
	e := New("dispatch.something.new", t0, Data{})
	Apply(s, e)
	if s.Summary.Total != 1 || s.Repos[UnknownRepo].Total != 1 || len(s.Deliveries) != 0 {
		t.Errorf("state %+v", s)
	}
	if k := Touched(e, nil); k.Delivery != "" || k.Repo != UnknownRepo || k.LatencyHours != nil {
		t.Errorf("keys %+v", k)
	}
}

// Applying each event to a partial state holding only the rows Touched
// names gives the same rows as applying it to the full state: that is the
// contract a store relies on.
func TestTouchedCoversApply(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{TypeRequestAccepted, TypePlanCreated, TypeTargetQueued, TypeTargetDenied, TypeTriggerSucceeded, TypeTriggerFailed}
	full := NewState()
	for i := range 500 {
		e := ev(types[r.IntN(len(types))], time.Duration(r.IntN(4*3600))*time.Second, Data{
			DeliveryID: fmt.Sprintf("d%d", r.IntN(20)), SourceRepo: fmt.Sprintf("o/r%d", r.IntN(3)),
			TargetRepo: fmt.Sprintf("t/%d", i),
		})
		var before *Funnel
		if f, ok := full.Deliveries[e.Data.DeliveryID]; ok {
			before = &f
		}
		k := Touched(e, before)
		part := NewState()
		part.Summary = full.Summary
		part.Summary.Latency = cloneHist(full.Summary.Latency)
		if v, ok := full.Repos[k.Repo]; ok {
			part.Repos[k.Repo] = v
		}
		if v, ok := full.Hours[k.Hour]; ok {
			part.Hours[k.Hour] = v
		}
		if v, ok := full.RepoMinutes[k.Minute]; ok {
			part.RepoMinutes[k.Minute] = v
		}
		if before != nil {
			part.Deliveries[k.Delivery] = *before
		}
		for _, h := range k.LatencyHours {
			if v, ok := full.Latency[h]; ok {
				part.Latency[h] = cloneHist(v)
			}
		}
		Apply(full, e)
		Apply(part, e)
		if !reflect.DeepEqual(part.Summary, full.Summary) || !reflect.DeepEqual(part.Repos[k.Repo], full.Repos[k.Repo]) ||
			!reflect.DeepEqual(part.Hours[k.Hour], full.Hours[k.Hour]) || part.RepoMinutes[k.Minute] != full.RepoMinutes[k.Minute] ||
			!reflect.DeepEqual(part.Deliveries[k.Delivery], full.Deliveries[k.Delivery]) {
			t.Fatalf("event %d (%s): partial state differs from full state", i, e.Type)
		}
		for h := range part.Latency {
			if !containsKey(k.LatencyHours, h) {
				t.Fatalf("event %d: Apply changed latency hour %d not named by Touched %v", i, h, k.LatencyHours)
			}
			if !reflect.DeepEqual(part.Latency[h], full.Latency[h]) {
				t.Fatalf("event %d: latency hour %d differs", i, h)
			}
		}
	}
	// Every delivery with a latency is in exactly one hour histogram.
	var withLatency int64
	for _, f := range full.Deliveries {
		if _, ok := f.Latency(); ok {
			withLatency++
		}
	}
	var inHist int64
	for _, h := range full.Latency {
		inHist += h.Count
	}
	if withLatency != inHist || full.Summary.Latency.Count != inHist {
		t.Errorf("deliveries with latency %d, histogram observations %d (summary %d)", withLatency, inHist, full.Summary.Latency.Count)
	}
}

func containsKey(ks []int64, k int64) bool {
	for _, v := range ks {
		if v == k {
			return true
		}
	}
	return false
}

func TestFillHoursAndTopRepos(t *testing.T) {
	end := time.Date(2026, 5, 1, 12, 59, 0, 0, time.UTC)
	stored := []HourBucket{
		{Hour: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Counts: Counts{Total: 3}},
		{Hour: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Counts: Counts{Total: 2}},
		{Hour: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC), Counts: Counts{Total: 9}}, // outside
	}
	got := FillHours(end, 24, stored)
	if len(got) != 24 || !got[0].Hour.Equal(time.Date(2026, 4, 30, 13, 0, 0, 0, time.UTC)) || got[23].Total != 3 || got[20].Total != 2 || got[21].Total != 0 {
		t.Errorf("FillHours: %+v", got)
	}
	var total int64
	for _, b := range got {
		total += b.Total
	}
	if total != 5 {
		t.Errorf("total %d, want 5", total)
	}
	top := TopRepos([]RepoMinute{{Repo: "a/x", Count: 2}, {Repo: "a/y", Count: 3}, {Repo: "a/x", Count: 2}, {Repo: "a/z", Count: 4}}, 2)
	if len(top) != 2 || top[0] != (RepoCount{"a/x", 4}) || top[1] != (RepoCount{"a/z", 4}) {
		t.Errorf("TopRepos %+v", top)
	}
}

func cloneHist(h Histogram) Histogram {
	h.Counts = append([]int64(nil), h.Counts...)
	return h
}
