package ghapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// TestStormNeverDecides: under a 30% storm (500, 502, 429, secondary
// limits, resets, all before any effect) every config lookup is either the
// right answer or unavailable, never a wrong decision; every dispatch is
// done once or not at all (ambiguous or transient); after the storm
// everything succeeds. The storm is deterministic with its seed.
func TestStormNeverDecides(t *testing.T) {
	e := fanOutSetup(t, ghapp.WithAppSlug("dispatcher-test"))
	ctx := context.Background()
	e.gh.StartStorm(ghfake.Storm{Fraction: 0.3, Seed: 42})
	unavailable, found := 0, 0
	for i := range 40 {
		src, targets, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf)
		switch {
		case err != nil:
			unavailable++
			if !ghapp.IsTransient(err) {
				t.Fatalf("delivery %d: %v is not transient", i, err)
			}
		case src.Status != plan.ConfigFound:
			t.Fatalf("delivery %d: source %+v without an error", i, src)
		default:
			found++
			for _, r := range targetsOf(src) {
				if res := targets.Lookup(ctx, r); res.Status != plan.ConfigFound {
					t.Fatalf("delivery %d: %s = %+v without an error", i, r, res)
				}
			}
		}
		e.clock.Advance(2 * time.Minute) // past the remembered 404s
	}
	c := e.gh.Counters()
	t.Logf("reads: %d found, %d unavailable; storm %d, rate limited %d, resets %d, 304s %d", found, unavailable, c.Storm, c.RateLimited, c.Resets, c.NotModified)
	if c.Storm == 0 || c.RateLimited == 0 || found == 0 {
		t.Errorf("the storm did not bite or nothing got through: %+v", c)
	}
	if c.Requests["repos/get-content"] == 0 {
		t.Errorf("requests by kind: %v", c.Requests)
	}

	before := len(e.gh.Dispatches())
	for i := range 20 {
		req := deployReq()
		req.Inputs = map[string]string{"call": fmt.Sprint(i)}
		_, err := e.c.Dispatch(ctx, req)
		n := 0
		for _, d := range e.gh.Dispatches()[before:] {
			if d.Inputs["call"] == fmt.Sprint(i) {
				n++
			}
		}
		switch {
		case err == nil && n != 1:
			t.Errorf("dispatch %d succeeded with %d dispatches", i, n)
		case err != nil && n != 0:
			t.Errorf("dispatch %d failed (%v) with %d dispatches; the storm fails before any effect", i, err, n)
		case err != nil && pipeline.IsPermanent(err):
			t.Errorf("dispatch %d: storm error %v is permanent", i, err)
		}
	}
	e.gh.StopStorm()
	e.gh.ResetCounters()
	if _, _, err := e.c.ReadConfigs(ctx, instAcme, "acme/api", targetsOf); err != nil {
		t.Errorf("after the storm: %v", err)
	}
	if _, err := e.c.Dispatch(ctx, deployReq()); err != nil {
		t.Errorf("after the storm: %v", err)
	}
	if c := e.gh.Counters(); c.Storm != 0 || c.RateLimited != 0 {
		t.Errorf("after StopStorm: %+v", c)
	}
}

// TestStormDeterministic: the same seed fails the same requests.
func TestStormDeterministic(t *testing.T) {
	run := func() []int {
		e := fanOutSetup(t, ghapp.WithMaxRetries(0))
		e.gh.StartStorm(ghfake.Storm{Fraction: 0.5, Seed: 7, Kinds: []ghfake.StormKind{ghfake.Storm500}, Pattern: contentsPattern})
		var st []int
		for range 20 {
			st = append(st, int(e.c.LookupConfig(context.Background(), instAcme, "acme/site").Status))
		}
		return st
	}
	a, b := run(), run()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("seed 7: %v then %v", a, b)
	}
	if !strings.Contains(fmt.Sprint(a), fmt.Sprint(int(plan.ConfigUnavailable))) || !strings.Contains(fmt.Sprint(a), fmt.Sprint(int(plan.ConfigFound))) {
		t.Errorf("a 50%% storm gave %v", a)
	}
}

// TestFakeRefusesUndispatchableWorkflows: GitHub's 422s for a workflow
// without the workflow_dispatch trigger, undeclared inputs and a missing
// required input, permanent and with GitHub's message.
func TestFakeRefusesUndispatchableWorkflows(t *testing.T) {
	cases := []struct {
		workflow string
		inputs   map[string]string
		message  string
	}{
		{"on: push\n", nil, "Workflow does not have 'workflow_dispatch' trigger"},
		{"on: [push, pull_request]\n", nil, "Workflow does not have 'workflow_dispatch' trigger"},
		{"on: [\n", nil, "Workflow does not have 'workflow_dispatch' trigger"},
		{"on: workflow_dispatch\n", map[string]string{"sha": "x", "env": "y"}, `Unexpected inputs provided: ["env","sha"]`},
		{"on:\n  workflow_dispatch:\n    inputs:\n      sha: {required: true}\n", nil, "Required input 'sha' not provided"},
		{"on:\n  workflow_dispatch:\n    inputs:\n      sha: {required: true}\n", map[string]string{"sha": "x", "no": "y"}, `Unexpected inputs provided: ["no"]`},
		{"on: [push, workflow_dispatch]\n", nil, ""},
		{"on:\n  push:\n  workflow_dispatch:\n    inputs:\n      sha: {required: true}\n      env: {}\n", map[string]string{"sha": "x"}, ""},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := setup(t, nil, ghapp.WithAppSlug("dispatcher-test"))
			e.gh.SetFile("acme/deploy", ".github/workflows/cd.yml", tc.workflow)
			req := deployReq()
			req.Inputs = tc.inputs
			_, err := e.c.Dispatch(context.Background(), req)
			if tc.message == "" {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			ge := asError(t, err)
			if ge.Status != 422 || ge.Message != tc.message || !pipeline.IsPermanent(err) {
				t.Errorf("err = %v, want permanent 422 %q", err, tc.message)
			}
			if n := len(e.gh.Dispatches()); n != 0 {
				t.Errorf("%d dispatches", n)
			}
		})
	}
}

// TestFakeLateListing: with a listing delay, a dispatched run is not in
// the run list until the delay has passed.
func TestFakeLateListing(t *testing.T) {
	e := setup(t, nil, ghapp.WithAppSlug("dispatcher-test"))
	e.gh.SetListingDelay(30 * time.Second)
	ctx := context.Background()
	since := e.clock.Now()
	res, err := e.c.Dispatch(ctx, deployReq())
	if err != nil || res.RunID == 0 {
		t.Fatalf("%+v %v", res, err)
	}
	runs, err := e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "", since, nil)
	if err != nil || len(runs) != 0 {
		t.Fatalf("listed at once: %+v %v", runs, err)
	}
	e.clock.Advance(30 * time.Second)
	runs, err = e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "", since, nil)
	if err != nil || len(runs) != 1 || runs[0].RunID != res.RunID {
		t.Fatalf("after the delay: %+v %v", runs, err)
	}
}

// TestFakeLatency: with latency set, requests still succeed (no timing is
// asserted; the knob is for cmd/loadgen).
func TestFakeLatency(t *testing.T) {
	e := setup(t, nil)
	e.gh.SetLatency(time.Millisecond)
	if res := e.c.LookupConfig(context.Background(), instAcme, "acme/deploy"); res.Status != plan.ConfigFound {
		t.Fatalf("%+v", res)
	}
	e.gh.SetLatency(0)
}
