package awsinfra_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Interface checks: the adapters are the ports.
var (
	_ pipeline.ReplayGuard   = (*awsinfra.ReplayGuard)(nil)
	_ pipeline.Claims        = (*awsinfra.State)(nil)
	_ pipeline.Lineage       = (*awsinfra.State)(nil)
	_ pipeline.Outcomes      = (*awsinfra.State)(nil)
	_ pipeline.Enqueuer      = (*awsinfra.Queue)(nil)
	_ pipeline.FactPublisher = (*awsinfra.Bus)(nil)
	_ pipeline.FactPublisher = (*awsinfra.FactStore)(nil)
)

func TestReplayGuardWindow(t *testing.T) {
	db, n := tables(t)
	clk := newClock()
	g := awsinfra.NewState(db, n.StateTable, awsinfra.StateOptions{Now: clk.Now, ReplayWindow: 10 * time.Minute}).Replay()
	ctx := context.Background()
	seen := func(id string) bool {
		t.Helper()
		ok, err := g.Seen(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if seen("d1") {
		t.Fatal("unrecorded id seen")
	}
	if err := g.Record(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if !seen("d1") || seen("d2") {
		t.Fatal("recorded id not seen, or another id seen")
	}
	clk.Advance(5 * time.Minute)
	if err := g.Record(ctx, "d1"); err != nil { // a second record keeps the first window
		t.Fatal(err)
	}
	clk.Advance(5 * time.Minute)
	if seen("d1") {
		t.Fatal("id still seen after the window of its first record")
	}
	if err := g.Record(ctx, "d1"); err != nil { // an expired record is replaced
		t.Fatal(err)
	}
	if !seen("d1") {
		t.Fatal("id not seen after recording it again")
	}
}

func TestClaimsLifecycle(t *testing.T) {
	db, n := tables(t)
	clk := newClock()
	s := awsinfra.NewState(db, n.StateTable, awsinfra.StateOptions{Now: clk.Now})
	ctx := context.Background()
	t0 := clk.Now()

	c, err := s.Claim(ctx, "k", t0)
	if err != nil || c.State != pipeline.ClaimAcquired || !c.ClaimedAt.Equal(t0) {
		t.Fatalf("first claim = %+v, %v", c, err)
	}
	t1 := t0.Add(time.Minute + 123*time.Nanosecond)
	c, err = s.Claim(ctx, "k", t1)
	if err != nil || c.State != pipeline.ClaimInProgress || !c.ClaimedAt.Equal(t0) || !c.LeasedAt.Equal(t0) {
		t.Fatalf("second claim = %+v, %v; want in progress since %v", c, err, t0)
	}
	if ok, err := s.TakeOver(ctx, "k", t1, t1); err != nil || ok {
		t.Fatalf("takeover with a wrong lease = %v, %v", ok, err)
	}

	// Of concurrent takeovers of the same lease exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan time.Time, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := t1.Add(time.Duration(i) * time.Second)
			ok, err := s.TakeOver(ctx, "k", t0, at)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins <- at
			}
		}()
	}
	wg.Wait()
	close(wins)
	var lease []time.Time
	for w := range wins {
		lease = append(lease, w)
	}
	if len(lease) != 1 {
		t.Fatalf("%d takeovers won, want 1", len(lease))
	}
	c, err = s.Claim(ctx, "k", t1)
	if err != nil || !c.LeasedAt.Equal(lease[0]) || !c.ClaimedAt.Equal(t0) {
		t.Fatalf("after takeover: %+v, %v; want lease %v, first claim kept", c, err, lease[0])
	}

	// The attempt that outlived its lease cannot release the claim.
	if ok, err := s.Release(ctx, "k", t0); err != nil || ok {
		t.Fatalf("release with the old lease = %v, %v", ok, err)
	}
	if ok, err := s.Release(ctx, "k", lease[0]); err != nil || !ok {
		t.Fatalf("release with the current lease = %v, %v", ok, err)
	}
	if c, err := s.Claim(ctx, "k", t1); err != nil || c.State != pipeline.ClaimAcquired {
		t.Fatalf("claim after release = %+v, %v", c, err)
	}
	res := pipeline.DispatchResult{Attempts: 2, RunID: 99, RunURL: "https://api.github.com/repos/a/b/actions/runs/99"}
	if err := s.Complete(ctx, "k", res); err != nil {
		t.Fatal(err)
	}
	c, err = s.Claim(ctx, "k", t1.Add(time.Hour))
	if err != nil || c.State != pipeline.ClaimDone || c.Result != res {
		t.Fatalf("claim after complete = %+v, %v", c, err)
	}
	if ok, err := s.Release(ctx, "k", t1); err != nil || ok {
		t.Fatalf("a done claim was released: %v, %v", ok, err)
	}
	if ok, err := s.TakeOver(ctx, "k", t1, t1.Add(time.Hour)); err != nil || ok {
		t.Fatalf("a done claim was taken over: %v, %v", ok, err)
	}
}

func TestClaimConcurrentAcquireOnce(t *testing.T) {
	db, n := tables(t)
	s := awsinfra.NewState(db, n.StateTable, awsinfra.StateOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make(chan pipeline.ClaimState, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Claim(ctx, "race", time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			got <- c.State
		}()
	}
	wg.Wait()
	close(got)
	acquired := 0
	for st := range got {
		if st == pipeline.ClaimAcquired {
			acquired++
		}
	}
	if acquired != 1 {
		t.Fatalf("%d callers acquired the claim, want 1", acquired)
	}
}

func TestClaimExpiredIsReplaced(t *testing.T) {
	db, n := tables(t)
	clk := newClock()
	s := awsinfra.NewState(db, n.StateTable, awsinfra.StateOptions{Now: clk.Now, ClaimTTL: time.Hour})
	ctx := context.Background()
	if _, err := s.Claim(ctx, "k", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Claim(ctx, "k", clk.Now().Add(2*time.Hour)); err != nil || c.State != pipeline.ClaimAcquired {
		t.Fatalf("claim past the TTL = %+v, %v; want acquired", c, err)
	}
}

func TestLineageAndOutcomes(t *testing.T) {
	db, n := tables(t)
	s := awsinfra.NewState(db, n.StateTable, awsinfra.StateOptions{})
	ctx := context.Background()
	chain := []plan.ChainLink{{Repository: "acme/api", Workflow: "ci.yml"}, {Repository: "acme/deploy", Workflow: "cd.yml"}}
	if err := s.RecordRun(ctx, "Acme/Deploy", 7, chain); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChainOf(ctx, "acme/deploy", 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(chain, got); diff != "" {
		t.Fatalf("chain (-want +got):\n%s", diff)
	}
	if got, err := s.ChainOf(ctx, "acme/deploy", 8); err != nil || got != nil {
		t.Fatalf("unknown run: %v, %v", got, err)
	}

	o0 := pipeline.Outcome{Index: 0, Repository: "acme/a", Workflow: "x.yml", Status: pipeline.OutcomeDenied, Reason: "inbound_not_authorized"}
	o1 := pipeline.Outcome{Index: 1, Repository: "acme/b", Workflow: "y.yml", Status: pipeline.OutcomeFailed, Error: "boom"}
	if all, err := s.Put(ctx, "d", o0); err != nil || len(all) != 1 {
		t.Fatalf("put 0: %v, %v", all, err)
	}
	o1b := o1
	o1b.Status, o1b.Error = pipeline.OutcomeSuccess, ""
	if _, err := s.Put(ctx, "d", o1); err != nil {
		t.Fatal(err)
	}
	all, err := s.Put(ctx, "d", o1b) // replaces index 1
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]pipeline.Outcome{o0, o1b}, all); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
}
