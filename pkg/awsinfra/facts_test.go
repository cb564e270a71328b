package awsinfra_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

func ptr[T any](v T) *T { return &v }

// deliveryFacts are the facts of one delivery with two queued targets, one
// succeeded and one failed, and a second delivery's accepted fact.
func deliveryFacts(t0 time.Time) []facts.Event {
	base := facts.Data{DeliveryID: "d1", SourceRepo: "acme/api", SourceWorkflow: "ci.yml", SourceRunID: 42, RunAttempt: 1}
	with := func(f func(*facts.Data)) facts.Data { d := base; f(&d); return d }
	return []facts.Event{
		facts.New(facts.TypeRequestAccepted, t0, base),
		facts.New(facts.TypePlanCreated, t0.Add(time.Second), with(func(d *facts.Data) { d.Eligible, d.Candidates, d.Allowed, d.Denied = ptr(true), ptr(3), ptr(2), ptr(1) })),
		facts.New(facts.TypeTargetQueued, t0.Add(2*time.Second), with(func(d *facts.Data) { d.TargetRepo, d.TargetWorkflow = "acme/web", "cd.yml" })),
		facts.New(facts.TypeTargetQueued, t0.Add(2*time.Second), with(func(d *facts.Data) { d.TargetRepo, d.TargetWorkflow = "acme/deploy", "cd.yml" })),
		facts.New(facts.TypeTargetDenied, t0.Add(2*time.Second), with(func(d *facts.Data) {
			d.TargetRepo, d.TargetWorkflow, d.Reason = "acme/x", "y.yml", "inbound_not_authorized"
		})),
		facts.New(facts.TypeTriggerSucceeded, t0.Add(3500*time.Millisecond), with(func(d *facts.Data) { d.TargetRepo, d.TargetWorkflow, d.Attempts = "acme/web", "cd.yml", 1 })),
		facts.New(facts.TypeTriggerFailed, t0.Add(4*time.Second), with(func(d *facts.Data) {
			d.TargetRepo, d.TargetWorkflow, d.Attempts, d.Error = "acme/deploy", "cd.yml", 3, "422 Unexpected inputs"
		})),
		facts.New(facts.TypeRequestAccepted, t0.Add(time.Hour), facts.Data{DeliveryID: "d2", SourceRepo: "acme/web", SourceWorkflow: "ci.yml", SourceRunID: 43}),
	}
}

// TestFoldCountsEachFactOnce folds every fact three times (in order, then
// twice more concurrently) and compares the read models with the reducer
// applied once per fact in memory.
func TestFoldCountsEachFactOnce(t *testing.T) {
	db, n := tables(t)
	store := awsinfra.NewFactStore(db, n.EventsTable, n.ProjectionsTable)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 10, 59, 58, 0, time.UTC)
	evs := deliveryFacts(t0)

	want := facts.NewState()
	for _, e := range evs {
		facts.Apply(want, e)
	}

	for _, e := range evs {
		applied, err := store.Fold(ctx, e)
		if err != nil || !applied {
			t.Fatalf("first fold of %s = %v, %v", e.Type, applied, err)
		}
	}
	var wg sync.WaitGroup
	for range 2 {
		for _, e := range evs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if applied, err := store.Fold(ctx, e); err != nil || applied {
					t.Errorf("refold of %s = %v, %v; want not applied", e.Type, applied, err)
				}
			}()
		}
	}
	wg.Wait()

	p := awsinfra.NewProjections(db, n.EventsTable, n.ProjectionsTable)
	sum, err := p.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// MaxMillis is not kept on DynamoDB (no max() in an update).
	ignoreMax := cmpopts.IgnoreFields(facts.Histogram{}, "MaxMillis")
	if diff := cmp.Diff(want.Summary, sum, ignoreMax); diff != "" {
		t.Fatalf("summary (-want +got):\n%s", diff)
	}
	for _, id := range []string{"d1", "d2"} {
		f, ok, err := p.Delivery(ctx, id)
		if err != nil || !ok {
			t.Fatalf("delivery %s: %v, %v", id, ok, err)
		}
		if diff := cmp.Diff(want.Deliveries[id], f); diff != "" {
			t.Fatalf("funnel %s (-want +got):\n%s", id, diff)
		}
	}
	rs, err := p.RepoStats(ctx, "acme/api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Repos["acme/api"], rs); diff != "" {
		t.Fatalf("repo (-want +got):\n%s", diff)
	}
	trend, err := p.HourlyTrend(ctx, t0.Add(time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	var wantTrend []facts.HourBucket
	for _, h := range []int64{facts.HourKey(t0), facts.HourKey(t0.Add(time.Hour))} {
		wantTrend = append(wantTrend, want.Hours[h])
	}
	if diff := cmp.Diff(wantTrend, trend); diff != "" {
		t.Fatalf("hourly trend (-want +got):\n%s", diff)
	}
	fails, err := p.RecentFailures(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Failures, fails); diff != "" {
		t.Fatalf("failures (-want +got):\n%s", diff)
	}
	journey, err := p.Journey(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if len(journey) != 7 || journey[0].Type != facts.TypeRequestAccepted || journey[6].Type != facts.TypeTriggerFailed {
		t.Fatalf("journey of d1: %d facts, want 7 from accepted to failed", len(journey))
	}
}

// TestFoldOutOfOrderLatency folds the success before the acceptance (facts
// arrive out of order on EventBridge and SQS): the latency is observed once
// and moved when an earlier acceptance arrives.
func TestFoldOutOfOrderLatency(t *testing.T) {
	db, n := tables(t)
	store := awsinfra.NewFactStore(db, n.EventsTable, n.ProjectionsTable)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	evs := deliveryFacts(t0)
	order := []facts.Event{evs[5], evs[1], evs[0], evs[2]}
	want := facts.NewState()
	for _, e := range order {
		facts.Apply(want, e)
		if _, err := store.Fold(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := awsinfra.NewProjections(db, n.EventsTable, n.ProjectionsTable).Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Latency.Count != 1 || !cmp.Equal(want.Summary.Latency.Counts, sum.Latency.Counts) || sum.Latency.SumMillis != 3500 {
		t.Fatalf("latency = %+v, want one observation of 3.5 s (%+v)", sum.Latency, want.Summary.Latency)
	}
}
