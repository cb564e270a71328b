package ghapp_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// TestDispatchApplied5xx: GitHub applied the dispatch but a gateway
// answered 502; a run appeared, so the client neither dispatches again nor
// takes the run: the error is ambiguous and lists the candidate.
func TestDispatchApplied5xx(t *testing.T) {
	e := setup(t, nil)
	e.gh.Fail(dispatchPath, ghfake.Fault{Status: 502, After: true})
	_, err := e.c.Dispatch(context.Background(), deployReq())
	d := e.gh.Dispatches()
	if len(d) != 1 || e.gh.Count(dispatchPath) != 1 {
		t.Fatalf("dispatches %+v, POSTs %d", d, e.gh.Count(dispatchPath))
	}
	ge := asError(t, err)
	if !ghapp.IsAmbiguous(err) || len(ge.Candidates) != 1 || ge.Candidates[0].RunID != d[0].RunID {
		t.Fatalf("err = %v, want ambiguous with candidate %d", err, d[0].RunID)
	}
}

// TestDispatch5xxNoRunRetries: a 5xx after which no run appeared is
// retried (the fake answers before any effect).
func TestDispatch5xxNoRunRetries(t *testing.T) {
	e := setup(t, nil)
	e.gh.Fail(dispatchPath, ghfake.Status(502))
	res, err := e.c.Dispatch(context.Background(), deployReq())
	if err != nil {
		t.Fatal(err)
	}
	if d := e.gh.Dispatches(); len(d) != 1 || res.RunID != d[0].RunID || e.gh.Count(dispatchPath) != 2 {
		t.Fatalf("res %+v, dispatches %+v, POSTs %d", res, d, e.gh.Count(dispatchPath))
	}
}

// TestFaultStorm sends dispatches through random faults (5xx before or
// after applying, 429, secondary limits, resets before or after applying).
// Every call ends in exactly one dispatch (success) or none (error);
// never two.
func TestFaultStorm(t *testing.T) {
	e := setup(t, nil, ghapp.WithMaxRetries(3))
	r := rand.New(rand.NewPCG(7, 7))
	faults := []func() ghfake.Fault{
		func() ghfake.Fault { return ghfake.Status(500) },
		func() ghfake.Fault { return ghfake.Status(503) },
		func() ghfake.Fault { return ghfake.Fault{Status: 502, After: true} },
		func() ghfake.Fault { return ghfake.TooManyRequests(time.Second) },
		func() ghfake.Fault { return ghfake.SecondaryLimit(2 * time.Second) },
		func() ghfake.Fault { return ghfake.SecondaryLimit(0) },
		ghfake.ConnReset,
		ghfake.ApplyThenReset,
		func() ghfake.Fault { return ghfake.Fault{Status: 422, Message: "Unexpected inputs provided"} },
	}
	var ok, failed, ambiguous int
	for i := range 60 {
		for range r.IntN(4) {
			e.gh.Fail(dispatchPath, faults[r.IntN(len(faults))]())
		}
		if r.IntN(5) == 0 {
			e.gh.Fail("GET /repos/*/*/actions/workflows/*/runs", ghfake.Status(500))
		}
		id := strconv.Itoa(i)
		req := deployReq()
		req.Inputs = map[string]string{"call": id}
		before := len(e.gh.Dispatches())
		res, err := e.c.Dispatch(context.Background(), req)
		var mine []ghfake.Dispatch
		for _, d := range e.gh.Dispatches()[before:] {
			if d.Inputs["call"] == id {
				mine = append(mine, d)
			}
		}
		switch {
		case err == nil:
			ok++
			if len(mine) != 1 {
				t.Fatalf("call %d succeeded with %d dispatches", i, len(mine))
			}
			if res.RunID != 0 && res.RunID != mine[0].RunID {
				t.Errorf("call %d: run id %d, dispatched run %d", i, res.RunID, mine[0].RunID)
			}
		case ghapp.IsAmbiguous(err):
			ambiguous++
			// Ambiguous: at most one dispatch, and never reported done.
			if len(mine) > 1 {
				t.Fatalf("call %d: ambiguous with %d dispatches", i, len(mine))
			}
		default:
			failed++
			if len(mine) != 0 {
				t.Fatalf("call %d failed (%v) but dispatched %d times", i, err, len(mine))
			}
			if !pipeline.IsPermanent(err) && !ghapp.IsTransient(err) {
				t.Errorf("call %d: unclassified error %v", i, err)
			}
		}
		// Drop what this call left so the next starts clean.
		e.gh.ClearFaults()
		e.clock.Advance(time.Hour)
	}
	t.Logf("ok %d, failed %d, ambiguous %d", ok, failed, ambiguous)
	if ok == 0 || failed == 0 {
		t.Errorf("the storm did not exercise both outcomes: ok %d failed %d", ok, failed)
	}
	if v := e.gh.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
