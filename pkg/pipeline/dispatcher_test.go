package pipeline_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

var item = pipeline.WorkItem{
	DeliveryID:     "d-1",
	InstallationID: 7,
	Source:         plan.Source{Repository: "acme/api", Workflow: "ci.yml", RunID: 42, RunAttempt: 1, HeadBranch: "main"},
	Target: plan.Target{Repository: "acme/deploy", Workflow: "cd.yml", Ref: "main", Inputs: map[string]string{"sha": "abc"},
		Decision: plan.DecisionDispatch, Reason: plan.ReasonAuthorized},
	Chain: []plan.ChainLink{{Repository: "acme/api", Workflow: "ci.yml"}},
}

func itemBody(t *testing.T, it pipeline.WorkItem) []byte {
	t.Helper()
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recv(n int) pipeline.Delivery { return pipeline.Delivery{ReceiveCount: n, MaxReceives: 5} }

func TestDispatcherDispatchesOnceUnderRedelivery(t *testing.T) {
	w := newWorld(t)
	body := itemBody(t, item)
	for i := 1; i <= 3; i++ {
		if err := w.dispatcher.HandleWorkItem(t.Context(), body, recv(i)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	ds := w.gh.Dispatches()
	if len(ds) != 1 {
		t.Fatalf("dispatches = %d, want 1", len(ds))
	}
	want := pipeline.DispatchRequest{InstallationID: 7, Repository: "acme/deploy", Workflow: "cd.yml", Ref: "main", Inputs: map[string]string{"sha": "abc"}}
	if !reflect.DeepEqual(ds[0], want) {
		t.Errorf("dispatch = %+v, want %+v", ds[0], want)
	}
	cl, _ := w.claims.Get(item.Key())
	if cl.State != pipeline.ClaimDone || cl.Result.RunID != 1001 {
		t.Errorf("claim = %+v, want done with run 1001", cl)
	}
	chain, _ := w.lineage.ChainOf(t.Context(), "acme/deploy", 1001)
	if wantChain := append(append([]plan.ChainLink(nil), item.Chain...), plan.ChainLink{Repository: "acme/deploy", Workflow: "cd.yml"}); !reflect.DeepEqual(chain, wantChain) {
		t.Errorf("lineage = %v, want %v", chain, wantChain)
	}
	ok := w.facts.OfType(facts.TypeTriggerSucceeded)
	if len(ok) != 1 {
		t.Fatalf("succeeded facts = %d, want 1", len(ok))
	}
	if len(w.facts.All()) != 3 {
		t.Errorf("succeeded fact published %d times, want 3 (re-published on each redelivery, same id)", len(w.facts.All()))
	}
	d := ok[0].Data
	if d.Attempts != 1 || d.TargetRunID != 1001 || d.TargetRunURL != "https://github.test/acme/deploy/actions/runs/1001" || d.Ref != "main" || d.TargetRepo != "acme/deploy" {
		t.Errorf("succeeded fact = %+v", d)
	}
}

// An in-progress claim younger than the lease may belong to a live attempt
// of the same item: the dispatcher waits for it without searching GitHub,
// because a run of the same workflow dispatched meanwhile for another
// source run would be taken for this item's and its dispatch lost.
func TestDispatcherYoungClaimIsNotSearched(t *testing.T) {
	w := newWorld(t)
	claimedAt := w.clock.Now().Add(-time.Minute)
	w.claims.Set(item.Key(), pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: claimedAt})
	w.gh.FindFunc = func(string, string, time.Time) (pipeline.DispatchResult, bool, error) {
		return pipeline.DispatchResult{RunID: 777}, true, nil // another source run's dispatch
	}
	err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2))
	if !errors.Is(err, pipeline.ErrClaimBusy) {
		t.Fatalf("err = %v, want ErrClaimBusy", err)
	}
	if ra := pipeline.RetryAfterOf(err); ra != pipeline.DefaultClaimLease-time.Minute {
		t.Errorf("retry after %v, want the rest of the lease", ra)
	}
	if w.gh.Finds() != 0 || len(w.gh.Dispatches()) != 0 {
		t.Errorf("finds %d, dispatches %d; want neither", w.gh.Finds(), len(w.gh.Dispatches()))
	}
	if cl, _ := w.claims.Get(item.Key()); cl.State != pipeline.ClaimInProgress {
		t.Errorf("claim = %+v, want still in progress", cl)
	}
}

// An in-progress claim older than the lease (crash between the POST and
// the completion record): a run found on GitHub is recorded and nothing is
// dispatched again.
func TestDispatcherAmbiguousClaimRunFound(t *testing.T) {
	w := newWorld(t)
	claimedAt := w.clock.Now().Add(-pipeline.DefaultClaimLease - time.Minute)
	w.claims.Set(item.Key(), pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: claimedAt})
	var since time.Time
	w.gh.FindFunc = func(repo, wf string, s time.Time) (pipeline.DispatchResult, bool, error) {
		since = s
		return pipeline.DispatchResult{RunID: 555, HTMLURL: "https://github.test/run/555"}, repo == "acme/deploy" && wf == "cd.yml", nil
	}
	if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); err != nil {
		t.Fatal(err)
	}
	if n := len(w.gh.Dispatches()); n != 0 {
		t.Fatalf("dispatched %d times, want 0", n)
	}
	if !since.Equal(claimedAt) {
		t.Errorf("searched since %v, want the claim time %v", since, claimedAt)
	}
	if cl, _ := w.claims.Get(item.Key()); cl.State != pipeline.ClaimDone || cl.Result.RunID != 555 {
		t.Errorf("claim = %+v", cl)
	}
	if chain, _ := w.lineage.ChainOf(t.Context(), "acme/deploy", 555); len(chain) != 2 {
		t.Errorf("lineage of the found run = %v", chain)
	}
	if f := w.facts.OfType(facts.TypeTriggerSucceeded); len(f) != 1 || f[0].Data.TargetRunID != 555 {
		t.Errorf("succeeded facts = %+v", f)
	}
}

func TestDispatcherAmbiguousClaimNoRun(t *testing.T) {
	t.Run("expired lease: dispatch once", func(t *testing.T) {
		w := newWorld(t)
		w.claims.Set(item.Key(), pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: w.clock.Now().Add(-pipeline.DefaultClaimLease)})
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); err != nil {
			t.Fatal(err)
		}
		if n, f := len(w.gh.Dispatches()), w.gh.Finds(); n != 1 || f != 1 {
			t.Fatalf("dispatches %d finds %d, want 1 and 1", n, f)
		}
		// A further redelivery finds the claim done.
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(3)); err != nil || len(w.gh.Dispatches()) != 1 {
			t.Fatalf("redelivery: err %v dispatches %d", err, len(w.gh.Dispatches()))
		}
	})
	t.Run("young claim: another attempt owns it", func(t *testing.T) {
		w := newWorld(t)
		w.claims.Set(item.Key(), pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: w.clock.Now().Add(-time.Minute)})
		err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2))
		if !errors.Is(err, pipeline.ErrClaimBusy) || pipeline.IsPermanent(err) {
			t.Fatalf("err = %v, want a transient ErrClaimBusy", err)
		}
		if ra := pipeline.RetryAfterOf(err); ra != pipeline.DefaultClaimLease-time.Minute {
			t.Errorf("retry after %v, want the rest of the lease", ra)
		}
		if len(w.gh.Dispatches()) != 0 || len(w.facts.All()) != 0 {
			t.Fatal("a busy claim dispatched or published")
		}
	})
}

func TestDispatcherPermanentFailureThenReplay(t *testing.T) {
	w := newWorld(t)
	fixed := false
	w.gh.DispatchFunc = func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		if !fixed {
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Status: 422, Message: "No ref found for: main", Tries: 1, IsPermanent: true, NotSent: true}
		}
		return pipeline.DispatchResult{Attempts: 1, RunID: 77}, nil
	}
	err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1))
	if !pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if _, held := w.claims.Get(item.Key()); held {
		t.Error("the claim was not released")
	}
	f := w.facts.OfType(facts.TypeTriggerFailed)
	if len(f) != 1 || !strings.Contains(f[0].Data.Error, "No ref found for: main") || f[0].Data.Attempts != 1 {
		t.Fatalf("failed facts = %+v, want one with GitHub's message", f)
	}
	// The operator fixes the target and replays the dead letter.
	fixed = true
	if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)); err != nil {
		t.Fatal(err)
	}
	if n := len(w.gh.Dispatches()); n != 2 {
		t.Fatalf("dispatch calls = %d, want 2 (failed, then replayed)", n)
	}
	if n := w.facts.Count(facts.TypeTriggerSucceeded); n != 1 {
		t.Fatalf("succeeded facts = %d", n)
	}
}

func TestDispatcherTransientFailures(t *testing.T) {
	t.Run("not sent: released, failed fact only on the final receive", func(t *testing.T) {
		w := newWorld(t)
		w.gh.DispatchFunc = func(int, pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Status: 503, Message: "unavailable", Tries: 3, NotSent: true}
		}
		for i := 1; i <= 5; i++ {
			err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(i))
			if err == nil || pipeline.IsPermanent(err) {
				t.Fatalf("receive %d: err = %v, want transient", i, err)
			}
			if _, held := w.claims.Get(item.Key()); held {
				t.Fatalf("receive %d: claim kept although the request was not sent", i)
			}
			if n := w.facts.Count(facts.TypeTriggerFailed); (i < 5 && n != 0) || (i == 5 && n != 1) {
				t.Fatalf("receive %d: failed facts = %d", i, n)
			}
		}
		if n := len(w.gh.Dispatches()); n != 5 {
			t.Errorf("dispatch calls = %d, want 5", n)
		}
		if a := w.facts.OfType(facts.TypeTriggerFailed)[0].Data.Attempts; a != 3 {
			t.Errorf("attempts = %d, want the adapter's 3", a)
		}
	})
	t.Run("ambiguous: claim kept, the next receive looks before dispatching", func(t *testing.T) {
		w := newWorld(t)
		calls := 0
		w.gh.DispatchFunc = func(n int, _ pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
			calls++
			if calls == 1 {
				return pipeline.DispatchResult{}, errors.New("read tcp: connection reset by peer")
			}
			return pipeline.DispatchResult{Attempts: 1, RunID: 9}, nil
		}
		w.gh.FindFunc = func(string, string, time.Time) (pipeline.DispatchResult, bool, error) {
			return pipeline.DispatchResult{}, false, nil
		}
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)); err == nil {
			t.Fatal("no error")
		}
		if cl, _ := w.claims.Get(item.Key()); cl.State != pipeline.ClaimInProgress {
			t.Fatalf("claim = %+v, want kept in progress", cl)
		}
		w.clock.Advance(30 * time.Second)
		err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2))
		if !errors.Is(err, pipeline.ErrClaimBusy) || w.gh.Finds() != 0 || calls != 1 {
			t.Fatalf("inside the lease: err %v finds %d calls %d", err, w.gh.Finds(), calls)
		}
		w.clock.Advance(pipeline.RetryAfterOf(err))
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(3)); err != nil {
			t.Fatal(err)
		}
		if calls != 2 || w.facts.Count(facts.TypeTriggerSucceeded) != 1 {
			t.Fatalf("calls %d, succeeded %d", calls, w.facts.Count(facts.TypeTriggerSucceeded))
		}
	})
}

// A crash point after the POST: completing the claim or publishing the fact
// fails; the redelivery must not dispatch again.
func TestDispatcherFailureAfterThePost(t *testing.T) {
	t.Run("publish fails", func(t *testing.T) {
		w := newWorld(t)
		w.facts.Err = func([]facts.Event) error { return pipelinetest.ErrInjected }
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)); !errors.Is(err, pipelinetest.ErrInjected) {
			t.Fatalf("err = %v", err)
		}
		w.facts.Err = nil
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); err != nil {
			t.Fatal(err)
		}
		if n := len(w.gh.Dispatches()); n != 1 || w.facts.Count(facts.TypeTriggerSucceeded) != 1 {
			t.Fatalf("dispatches %d succeeded %d", n, w.facts.Count(facts.TypeTriggerSucceeded))
		}
	})
	t.Run("complete fails", func(t *testing.T) {
		w := newWorld(t)
		w.claims.CompleteErr = pipelinetest.ErrInjected
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)); !errors.Is(err, pipelinetest.ErrInjected) {
			t.Fatalf("err = %v", err)
		}
		w.claims.CompleteErr = nil
		// After the lease the fake GitHub finds the run it created.
		w.clock.Advance(pipeline.DefaultClaimLease)
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); err != nil {
			t.Fatal(err)
		}
		if n := len(w.gh.Dispatches()); n != 1 {
			t.Fatalf("dispatches = %d, want 1", n)
		}
		if cl, _ := w.claims.Get(item.Key()); cl.State != pipeline.ClaimDone {
			t.Fatalf("claim = %+v", cl)
		}
	})
	t.Run("lineage fails", func(t *testing.T) {
		w := newWorld(t)
		w.lineage.RecordErr = pipelinetest.ErrInjected
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)); err == nil {
			t.Fatal("no error")
		}
		w.lineage.RecordErr = nil
		w.clock.Advance(pipeline.DefaultClaimLease)
		if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); err != nil {
			t.Fatal(err)
		}
		if chain, _ := w.lineage.ChainOf(t.Context(), "acme/deploy", 1001); len(chain) != 2 || len(w.gh.Dispatches()) != 1 {
			t.Fatalf("lineage %v dispatches %d", chain, len(w.gh.Dispatches()))
		}
	})
}

func TestDispatcherBadMessagesArePermanent(t *testing.T) {
	w := newWorld(t)
	noTarget := item
	noTarget.Target.Repository = ""
	for name, body := range map[string][]byte{
		"not json":  []byte(`{"delivery_id":`),
		"no target": itemBody(t, noTarget),
	} {
		if err := w.dispatcher.HandleWorkItem(t.Context(), body, recv(1)); !pipeline.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
	if len(w.gh.Dispatches()) != 0 {
		t.Fatal("dispatched a bad message")
	}
}

func TestDispatcherClaimStoreDownIsTransient(t *testing.T) {
	w := newWorld(t)
	w.claims.ClaimErr = pipelinetest.ErrInjected
	err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1))
	if err == nil || pipeline.IsPermanent(err) || len(w.gh.Dispatches()) != 0 {
		t.Fatalf("err %v dispatches %d", err, len(w.gh.Dispatches()))
	}
}

// Two attempts that both find the same in-progress claim past its lease
// (the item redelivered while the attempt that took over the expired claim
// is still dispatching: its visibility ran out, or a second copy of the
// item) must not both search and dispatch: the first to take the claim
// over starts a new lease, and the second waits for it. Before the
// takeover was atomic, both searched GitHub (finding nothing: the first
// dispatch was still in flight) and both dispatched.
func TestDispatcherExpiredClaimTakenOverOnce(t *testing.T) {
	w := newWorld(t)
	claimedAt := w.clock.Now().Add(-pipeline.DefaultClaimLease - time.Minute)
	w.claims.Set(item.Key(), pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: claimedAt})
	w.gh.FindFunc = func(string, string, time.Time) (pipeline.DispatchResult, bool, error) {
		return pipeline.DispatchResult{}, false, nil // the in-flight dispatch is not listed yet
	}
	inFlight, release := make(chan struct{}), make(chan struct{})
	w.gh.DispatchFunc = func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		if n == 1 {
			close(inFlight)
			<-release
		}
		return pipeline.DispatchResult{Attempts: 1, RunID: int64(900 + n)}, nil
	}
	first := make(chan error, 1)
	go func() { first <- w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)) }()
	<-inFlight
	second := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1))
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	if n := len(w.gh.Dispatches()); n != 1 {
		t.Fatalf("dispatched %d times, want 1", n)
	}
	if !errors.Is(second, pipeline.ErrClaimBusy) {
		t.Errorf("second attempt: err = %v, want ErrClaimBusy", second)
	}
	if ra := pipeline.RetryAfterOf(second); ra != pipeline.DefaultClaimLease {
		t.Errorf("second attempt retries after %v, want the new lease %v", ra, pipeline.DefaultClaimLease)
	}
}

// The search after a takeover covers everything since the first claim,
// and a later takeover of the same claim (the taker died too) still
// searches from the first claim: the first attempt's run may show up late.
func TestDispatcherTakeoverSearchesSinceFirstClaim(t *testing.T) {
	w := newWorld(t)
	claimedAt := w.clock.Now().Add(-3 * pipeline.DefaultClaimLease)
	w.claims.Set(item.Key(), pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: claimedAt,
		LeasedAt: w.clock.Now().Add(-pipeline.DefaultClaimLease - time.Second)})
	var since []time.Time
	w.gh.FindFunc = func(_, _ string, s time.Time) (pipeline.DispatchResult, bool, error) {
		since = append(since, s)
		return pipeline.DispatchResult{}, false, nil
	}
	w.gh.DispatchFunc = func(int, pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Message: "connection reset", Tries: 1} // ambiguous
	}
	if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)); err == nil {
		t.Fatal("ambiguous failure: want an error")
	}
	cl, _ := w.claims.Get(item.Key())
	if cl.State != pipeline.ClaimInProgress || !cl.ClaimedAt.Equal(claimedAt) || !cl.LeasedAt.Equal(w.clock.Now()) {
		t.Fatalf("claim after takeover = %+v, want in progress, first claim %v, leased now", cl, claimedAt)
	}
	// Inside the new lease: wait, no search.
	if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); !errors.Is(err, pipeline.ErrClaimBusy) {
		t.Fatalf("inside the new lease: err = %v, want ErrClaimBusy", err)
	}
	w.clock.Advance(pipeline.DefaultClaimLease)
	_ = w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(3))
	if len(since) != 2 || !since[0].Equal(claimedAt) || !since[1].Equal(claimedAt) {
		t.Errorf("searched since %v, want twice the first claim time %v", since, claimedAt)
	}
}

// An attempt that outlived its lease must not release the claim another
// attempt took over: A claims and is slow to get its (certainly not sent)
// 429; meanwhile its lease ends and B takes the claim over and dispatches
// with an ambiguous outcome. When A then releases "its" claim, B's claim
// must survive: deleting it would let C acquire a fresh claim and dispatch
// a second time without looking for B's run.
func TestDispatcherStaleAttemptDoesNotReleaseTakenOverClaim(t *testing.T) {
	w := newWorld(t)
	w.gh.FindFunc = func(string, string, time.Time) (pipeline.DispatchResult, bool, error) {
		return pipeline.DispatchResult{}, false, nil
	}
	inFlight, answer := make(chan struct{}), make(chan struct{})
	w.gh.DispatchFunc = func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		switch n {
		case 1: // A: slow, then rejected before it was applied
			close(inFlight)
			<-answer
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Status: 429, Message: "slow down", Tries: 1, NotSent: true}
		case 2: // B: may or may not have reached GitHub
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Message: "connection reset", Tries: 1}
		}
		return pipeline.DispatchResult{Attempts: 1, RunID: int64(900 + n)}, nil
	}
	a := make(chan error, 1)
	go func() { a <- w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(1)) }()
	<-inFlight
	w.clock.Advance(pipeline.DefaultClaimLease + time.Minute)
	takenAt := w.clock.Now()
	if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(2)); err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("B: err = %v, want a transient error", err)
	}
	close(answer)
	if err := <-a; err == nil {
		t.Fatal("A: want the 429")
	}
	cl, ok := w.claims.Get(item.Key())
	if !ok || cl.State != pipeline.ClaimInProgress || !cl.LeasedAt.Equal(takenAt) {
		t.Fatalf("claim after A's release = %+v (present %v), want B's: in progress, leased at %v", cl, ok, takenAt)
	}
	// C, inside B's lease, waits instead of dispatching.
	if err := w.dispatcher.HandleWorkItem(t.Context(), itemBody(t, item), recv(3)); !errors.Is(err, pipeline.ErrClaimBusy) {
		t.Errorf("C: err = %v, want ErrClaimBusy", err)
	}
	if n := len(w.gh.Dispatches()); n != 2 {
		t.Errorf("dispatched %d times, want 2 (A rejected, B ambiguous)", n)
	}
}
