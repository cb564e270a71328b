package local

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// behaviour.md §10 replay-protection vectors, with a fake clock; plus the
// guard being shared by two handles on one file.
func TestReplayGuard(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "g.db")
	s := openAt(t, path, c, Options{ReplayWindow: time.Second})
	g := s.ReplayGuard()
	seen := func(g *ReplayGuard, id string) bool {
		t.Helper()
		v, err := g.Seen(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// 1: first d-1 is not a replay; an immediate second one is.
	if seen(g, "d-1") {
		t.Fatal("d-1 seen before it was recorded")
	}
	if err := g.Record(ctx, "d-1"); err != nil {
		t.Fatal(err)
	}
	if !seen(g, "d-1") {
		t.Error("immediate second d-1 is not a replay")
	}
	other := openAt(t, path, c, Options{ReplayWindow: time.Second}).ReplayGuard()
	if !seen(other, "d-1") {
		t.Error("the guard is not shared between handles")
	}
	// 2: d-ttl first, then 1001 ms later: not a replay again.
	if seen(g, "d-ttl") {
		t.Fatal("d-ttl seen")
	}
	g.Record(ctx, "d-ttl")
	c.Add(1000 * time.Millisecond)
	if !seen(g, "d-ttl") {
		t.Error("exactly the window later is still a replay")
	}
	c.Add(time.Millisecond)
	if seen(g, "d-ttl") {
		t.Error("after 1001 ms still a replay")
	}
	g.Record(ctx, "d-new")
	if _, err := s.Cleanup(ctx); err != nil { // prunes expired ids
		t.Fatal(err)
	}
	var n int
	s.DB().QueryRow("SELECT COUNT(*) FROM replay_guard").Scan(&n)
	if n != 1 {
		t.Errorf("%d replay ids kept after Cleanup, want 1 (expired ones pruned)", n)
	}
}

func TestClaimsStateMachine(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{ClaimTTL: time.Hour})
	key := "acme/api#42#1#acme/deploy#cd.yml"
	t1 := c.Now()
	got, err := s.Claim(ctx, key, t1)
	if err != nil || got.State != pipeline.ClaimAcquired || !got.ClaimedAt.Equal(t1) {
		t.Fatalf("first claim: %+v %v", got, err)
	}
	got, _ = s.Claim(ctx, key, t1.Add(time.Second))
	if got.State != pipeline.ClaimInProgress || !got.ClaimedAt.Equal(t1) {
		t.Fatalf("second claim: %+v", got)
	}
	// Release of an in-progress claim lets a replay acquire it.
	if ok, err := s.Release(ctx, key, t1); err != nil || !ok {
		t.Fatalf("release by the holder: %v %v", ok, err)
	}
	if got, _ = s.Claim(ctx, key, t1.Add(2*time.Second)); got.State != pipeline.ClaimAcquired {
		t.Fatalf("after release: %+v", got)
	}
	res := pipeline.DispatchResult{Attempts: 2, RunID: 99, RunURL: "https://api/runs/99", HTMLURL: "https://gh/runs/99"}
	if err := s.Complete(ctx, key, res); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Claim(ctx, key, t1.Add(3*time.Second))
	if got.State != pipeline.ClaimDone || got.Result != res {
		t.Fatalf("after complete: %+v", got)
	}
	// A done record is never released.
	if ok, _ := s.Release(ctx, key, t1.Add(2*time.Second)); ok {
		t.Error("a done record was released")
	}
	if got, _ = s.Claim(ctx, key, t1.Add(4*time.Second)); got.State != pipeline.ClaimDone {
		t.Fatalf("done record released: %+v", got)
	}
	// Records expire after the TTL (counted from completion).
	c.Add(time.Hour)
	if got, _ = s.Claim(ctx, key, c.Now()); got.State != pipeline.ClaimAcquired {
		t.Fatalf("after expiry: %+v", got)
	}
	// Complete without a claim (expired meanwhile) still records done.
	if err := s.Complete(ctx, "other", res); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Claim(ctx, "other", c.Now()); got.State != pipeline.ClaimDone {
		t.Fatalf("complete without claim: %+v", got)
	}
}

func TestClaimsConcurrent(t *testing.T) {
	s := openTemp(t, newClock(), Options{})
	for k := range 3 {
		key := fmt.Sprintf("key-%d", k)
		var wg sync.WaitGroup
		states := make(chan pipeline.ClaimState, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.Claim(ctx, key, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				states <- c.State
			}()
		}
		wg.Wait()
		close(states)
		acquired, inProgress := 0, 0
		for st := range states {
			switch st {
			case pipeline.ClaimAcquired:
				acquired++
			case pipeline.ClaimInProgress:
				inProgress++
			}
		}
		if acquired != 1 || inProgress != 31 {
			t.Errorf("%s: %d acquired, %d in progress; want 1 and 31", key, acquired, inProgress)
		}
	}
}

func TestLineage(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{LineageTTL: 24 * time.Hour})
	chain := []plan.ChainLink{{Repository: "acme/api", Workflow: "ci.yml"}, {Repository: "acme/deploy", Workflow: "cd.yml"}}
	if err := s.RecordRun(ctx, "Acme/Deploy", 7, chain); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChainOf(ctx, "acme/deploy", 7)
	if err != nil || !slices.Equal(got, chain) {
		t.Fatalf("ChainOf: %+v %v", got, err)
	}
	if got, err := s.ChainOf(ctx, "acme/deploy", 8); err != nil || got != nil {
		t.Errorf("unknown run: %+v %v", got, err)
	}
	c.Add(24 * time.Hour)
	if got, _ := s.ChainOf(ctx, "acme/deploy", 7); got != nil {
		t.Errorf("expired lineage returned: %+v", got)
	}
	st, err := s.Cleanup(ctx)
	if err != nil || st.Lineage != 1 {
		t.Errorf("cleanup %+v %v", st, err)
	}
}

// TakeOver is a compare-and-set on the lease: of many attempts that found
// the same expired claim, exactly one takes it over; the first claim time
// is kept, and done or released records are never taken over.
func TestClaimsTakeOver(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	key := "acme/api#42#1#acme/deploy#cd.yml"
	t1 := c.Now()
	if got, err := s.Claim(ctx, key, t1); err != nil || got.State != pipeline.ClaimAcquired {
		t.Fatalf("claim: %+v %v", got, err)
	}
	t2 := t1.Add(time.Hour)
	var wg sync.WaitGroup
	wins := make(chan bool, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.TakeOver(ctx, key, t1, t2)
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}()
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d attempts took the claim over, want exactly 1", n)
	}
	got, _ := s.Claim(ctx, key, t2.Add(time.Second))
	if got.State != pipeline.ClaimInProgress || !got.ClaimedAt.Equal(t1) || !got.LeasedAt.Equal(t2) {
		t.Fatalf("after takeover: %+v, want in progress, claimed %v, leased %v", got, t1, t2)
	}
	// The next takeover must name the new lease.
	if ok, _ := s.TakeOver(ctx, key, t1, t2.Add(time.Hour)); ok {
		t.Error("takeover with a stale lease succeeded")
	}
	if ok, _ := s.TakeOver(ctx, key, t2, t2.Add(time.Hour)); !ok {
		t.Error("takeover with the current lease failed")
	}
	if err := s.Complete(ctx, key, pipeline.DispatchResult{RunID: 1}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Claim(ctx, key, t2)
	if ok, _ := s.TakeOver(ctx, key, got.LeasedAt, t2.Add(2*time.Hour)); ok {
		t.Error("a done claim was taken over")
	}
	if ok, _ := s.TakeOver(ctx, "missing", t1, t2); ok {
		t.Error("a missing claim was taken over")
	}
}

// Release is a compare-and-delete on the lease: an attempt that outlived
// its lease cannot release the claim another attempt took over; the
// current holder can.
func TestClaimsReleaseNeedsTheLease(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	key := "acme/api#42#1#acme/deploy#cd.yml"
	t1 := c.Now()
	if got, err := s.Claim(ctx, key, t1); err != nil || got.State != pipeline.ClaimAcquired {
		t.Fatalf("claim: %+v %v", got, err)
	}
	t2 := t1.Add(time.Hour)
	if ok, err := s.TakeOver(ctx, key, t1, t2); err != nil || !ok {
		t.Fatalf("takeover: %v %v", ok, err)
	}
	if ok, err := s.Release(ctx, key, t1); err != nil || ok {
		t.Fatalf("stale release: %v %v, want false", ok, err)
	}
	got, _ := s.Claim(ctx, key, t2.Add(time.Second))
	if got.State != pipeline.ClaimInProgress || !got.LeasedAt.Equal(t2) {
		t.Fatalf("after a stale release: %+v, want the taken-over claim (leased %v)", got, t2)
	}
	if ok, err := s.Release(ctx, key, t2); err != nil || !ok {
		t.Fatalf("release by the new holder: %v %v, want true", ok, err)
	}
	if got, _ := s.Claim(ctx, key, t2.Add(2*time.Second)); got.State != pipeline.ClaimAcquired {
		t.Fatalf("after the holder's release: %+v, want acquired", got)
	}
	if ok, _ := s.Release(ctx, "missing", t1); ok {
		t.Error("a missing claim was released")
	}
}

// A stale holder's release racing a takeover of the same lease: exactly one
// of them wins, and a claim that was taken over is never lost.
func TestClaimsReleaseRacesTakeOver(t *testing.T) {
	c := newClock()
	s := openTemp(t, c, Options{})
	t1 := c.Now()
	t2 := t1.Add(time.Hour)
	const keys = 24
	type outcome struct{ released, took bool }
	results := make([]outcome, keys)
	var wg sync.WaitGroup
	for i := range keys {
		key := fmt.Sprintf("acme/api#%d#1#acme/deploy#cd.yml", i)
		if _, err := s.Claim(ctx, key, t1); err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			ok, err := s.Release(ctx, key, t1)
			if err != nil {
				t.Error(err)
			}
			results[i].released = ok
		}()
		go func() {
			defer wg.Done()
			ok, err := s.TakeOver(ctx, key, t1, t2)
			if err != nil {
				t.Error(err)
			}
			results[i].took = ok
		}()
	}
	wg.Wait()
	for i, r := range results {
		key := fmt.Sprintf("acme/api#%d#1#acme/deploy#cd.yml", i)
		got, err := s.Claim(ctx, key, t2.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.released == r.took:
			t.Errorf("%s: released %v, taken over %v; want exactly one", key, r.released, r.took)
		case r.took && (got.State != pipeline.ClaimInProgress || !got.LeasedAt.Equal(t2)):
			t.Errorf("%s: taken over, then %+v; want the new lease %v kept", key, got, t2)
		case r.released && got.State != pipeline.ClaimAcquired:
			t.Errorf("%s: released, then %+v; want acquired", key, got)
		}
	}
}
