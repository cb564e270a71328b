package ghapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

const dispatchPath = "POST /repos/*/*/actions/workflows/*/dispatches"

func deployReq() pipeline.DispatchRequest {
	return pipeline.DispatchRequest{InstallationID: instAcme, Repository: "acme/deploy", Workflow: "cd.yml", Ref: "trunk"}
}

func bodyKeys(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDispatchBody covers the dispatch-service cases of the original: the
// ref is passed, inputs are sent only when non-empty, and run details are
// asked for and returned.
func TestDispatchBody(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	withInputs := deployReq()
	withInputs.Inputs = map[string]string{"sha": "abc", "environment": "prod"}
	res, err := e.c.Dispatch(ctx, withInputs)
	if err != nil {
		t.Fatal(err)
	}
	emptyInputs := deployReq()
	emptyInputs.Ref = "release"
	emptyInputs.Inputs = map[string]string{}
	if _, err := e.c.Dispatch(ctx, emptyInputs); err != nil {
		t.Fatal(err)
	}
	d := e.gh.Dispatches()
	if len(d) != 2 {
		t.Fatalf("dispatches = %+v", d)
	}
	if d[0].Ref != "trunk" || d[0].Inputs["sha"] != "abc" || d[0].Inputs["environment"] != "prod" || !d[0].RunDetails {
		t.Errorf("first dispatch = %+v", d[0])
	}
	if d[1].Ref != "release" {
		t.Errorf("second ref = %q", d[1].Ref)
	}
	if _, ok := bodyKeys(t, d[1].Body)["inputs"]; ok {
		t.Errorf("empty inputs sent: %s", d[1].Body)
	}
	if string(bodyKeys(t, d[1].Body)["return_run_details"]) != "true" {
		t.Errorf("run details not asked for: %s", d[1].Body)
	}
	want := pipeline.DispatchResult{Attempts: 1, RunID: d[0].RunID,
		RunURL:  strings.TrimSuffix(e.gh.URL(), "/") + "/repos/acme/deploy/actions/runs/" + itoa(d[0].RunID),
		HTMLURL: "https://github.example/acme/deploy/actions/runs/" + itoa(d[0].RunID)}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if d[0].Installation != instAcme {
		t.Errorf("installation = %d", d[0].Installation)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestDispatchCrossInstallation: a target in another organisation is
// dispatched with its own installation, whatever the caller passed.
func TestDispatchCrossInstallation(t *testing.T) {
	e := setup(t, nil)
	_, err := e.c.Dispatch(context.Background(), pipeline.DispatchRequest{InstallationID: instAcme, Repository: "other/web", Workflow: "cd.yml", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.gh.Dispatches(); len(d) != 1 || d[0].Installation != instOther {
		t.Fatalf("dispatches = %+v", d)
	}
}

// TestDispatchGHESFallback: a server that refuses return_run_details gets
// the POST again without it, once, and the client remembers.
func TestDispatchGHESFallback(t *testing.T) {
	ctx := context.Background()
	e := setup(t, []ghfake.Option{ghfake.WithPrefix("/api/v3")})
	e.gh.RejectRunDetails(true)
	res, err := e.c.Dispatch(ctx, deployReq())
	if err != nil {
		t.Fatal(err)
	}
	if res.RunID != 0 || res.Attempts != 2 {
		t.Errorf("result = %+v, want RunID 0 after 2 attempts", res)
	}
	res, err = e.c.Dispatch(ctx, deployReq())
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 {
		t.Errorf("second dispatch took %d attempts; the fallback is not remembered", res.Attempts)
	}
	if n := e.gh.Count(dispatchPath); n != 3 {
		t.Errorf("POSTs = %d, want 3", n)
	}
	d := e.gh.Dispatches()
	if len(d) != 2 || d[0].RunDetails || d[1].RunDetails {
		t.Errorf("dispatches = %+v", d)
	}
	if len(e.clock.Sleeps()) != 0 {
		t.Errorf("the fallback slept: %v", e.clock.Sleeps())
	}
}

// TestDispatchRetries asserts the calls and the exact waits of every retry
// path (the jitter source returns its maximum).
func TestDispatchRetries(t *testing.T) {
	ms := time.Millisecond
	start := newClock().Now()
	cases := []struct {
		name       string
		faults     []ghfake.Fault
		opts       []ghapp.Option
		ctxTimeout time.Duration
		calls      int
		waits      []time.Duration
		ok         bool
		kind       ghapp.Kind
		status     int
		msg        string
		retryAfter time.Duration
		rateLimit  bool
	}{
		{name: "503 then success", faults: []ghfake.Fault{ghfake.Status(503)}, calls: 2, waits: []time.Duration{200 * ms}, ok: true},
		{name: "500 502 then success", faults: []ghfake.Fault{ghfake.Status(500), ghfake.Status(502)}, calls: 3, waits: []time.Duration{200 * ms, 400 * ms}, ok: true},
		{name: "retries exhausted", faults: []ghfake.Fault{ghfake.Status(500), ghfake.Status(500), ghfake.Status(504)},
			calls: 3, waits: []time.Duration{200 * ms, 400 * ms}, kind: ghapp.KindTransient, status: 504},
		{name: "max retries 0", faults: []ghfake.Fault{ghfake.Status(500)}, opts: []ghapp.Option{ghapp.WithMaxRetries(0)},
			calls: 1, kind: ghapp.KindTransient, status: 500},
		{name: "max retries 4 with cap", faults: []ghfake.Fault{ghfake.Status(500), ghfake.Status(500), ghfake.Status(500), ghfake.Status(500)},
			opts:  []ghapp.Option{ghapp.WithMaxRetries(4), ghapp.WithBaseDelay(time.Second), ghapp.WithMaxDelay(3 * time.Second)},
			calls: 5, waits: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, ok: true},
		{name: "501 is permanent", faults: []ghfake.Fault{ghfake.Status(501)}, calls: 1, kind: ghapp.KindPermanent, status: 501},
		{name: "429 with Retry-After", faults: []ghfake.Fault{ghfake.TooManyRequests(3 * time.Second)}, calls: 2, waits: []time.Duration{3 * time.Second}, ok: true},
		{name: "429 without Retry-After backs off", faults: []ghfake.Fault{ghfake.TooManyRequests(0)}, calls: 2, waits: []time.Duration{200 * ms}, ok: true},
		{name: "secondary limit with Retry-After", faults: []ghfake.Fault{ghfake.SecondaryLimit(5 * time.Second)}, calls: 2, waits: []time.Duration{5 * time.Second}, ok: true},
		{name: "secondary limit without headers waits a minute", faults: []ghfake.Fault{ghfake.SecondaryLimit(0)}, calls: 2, waits: []time.Duration{time.Minute}, ok: true},
		{name: "secondary limit known by message only", faults: []ghfake.Fault{{Status: 403, Message: "You have exceeded a secondary rate limit"}},
			calls: 2, waits: []time.Duration{time.Minute}, ok: true},
		{name: "secondary limit over max wait stops", faults: []ghfake.Fault{ghfake.SecondaryLimit(0)}, opts: []ghapp.Option{ghapp.WithMaxWait(10 * time.Second)},
			calls: 1, kind: ghapp.KindTransient, status: 403, retryAfter: time.Minute, rateLimit: true},
		{name: "primary limit waits for the reset", faults: []ghfake.Fault{ghfake.PrimaryLimit(start.Add(20 * time.Second))},
			calls: 2, waits: []time.Duration{21 * time.Second}, ok: true},
		{name: "primary limit reset too far", faults: []ghfake.Fault{ghfake.PrimaryLimit(start.Add(30 * time.Minute))},
			calls: 1, kind: ghapp.KindTransient, status: 403, retryAfter: 30*time.Minute + time.Second, rateLimit: true},
		{name: "wait beyond the context deadline stops", faults: []ghfake.Fault{ghfake.TooManyRequests(40 * time.Second)}, ctxTimeout: 30 * time.Second,
			calls: 1, kind: ghapp.KindTransient, status: 429, retryAfter: 40 * time.Second, rateLimit: true},
		{name: "404 keeps the message", faults: []ghfake.Fault{{Status: 404, Message: "Not Found"}}, calls: 1, kind: ghapp.KindPermanent, status: 404, msg: "Not Found"},
		{name: "422 keeps the message", faults: []ghfake.Fault{{Status: 422, Message: "Workflow does not have 'workflow_dispatch' trigger"}},
			calls: 1, kind: ghapp.KindPermanent, status: 422, msg: "Workflow does not have 'workflow_dispatch' trigger"},
		{name: "403 not rate limited is permanent", faults: []ghfake.Fault{{Status: 403, Message: "Resource not accessible by integration"}},
			calls: 1, kind: ghapp.KindPermanent, status: 403, msg: "Resource not accessible by integration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, nil, tc.opts...)
			e.gh.Fail(dispatchPath, tc.faults...)
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				// The fake clock drives waits; the deadline is real time,
				// so compare against it through the same clock.
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, time.Now().Add(tc.ctxTimeout))
				defer cancel()
				e.clock.mu.Lock()
				e.clock.now = time.Now()
				e.clock.mu.Unlock()
			}
			res, err := e.c.Dispatch(ctx, deployReq())
			if n := e.gh.Count(dispatchPath); n != tc.calls {
				t.Errorf("POSTs = %d, want %d", n, tc.calls)
			}
			if got := e.clock.Sleeps(); !equalDurations(got, tc.waits) {
				t.Errorf("waits = %v, want %v", got, tc.waits)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if res.Attempts != tc.calls || res.RunID == 0 || len(e.gh.Dispatches()) != 1 {
					t.Errorf("result = %+v, dispatches %d", res, len(e.gh.Dispatches()))
				}
				return
			}
			ge := asError(t, err)
			if ge.Kind != tc.kind || ge.Status != tc.status || ge.Attempts != tc.calls {
				t.Errorf("error = %#v", ge)
			}
			if pipeline.IsPermanent(err) != (tc.kind == ghapp.KindPermanent) {
				t.Errorf("IsPermanent = %v", pipeline.IsPermanent(err))
			}
			if tc.msg != "" && (ge.Message != tc.msg || !strings.Contains(err.Error(), tc.msg)) {
				t.Errorf("message = %q, error %q", ge.Message, err)
			}
			if ge.Wait != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", ge.Wait, tc.retryAfter)
			}
			if errors.Is(err, ghapp.ErrRateLimited) != tc.rateLimit {
				t.Errorf("ErrRateLimited = %v", errors.Is(err, ghapp.ErrRateLimited))
			}
			if tc.status == 404 && !errors.Is(err, ghapp.ErrNotFound) {
				t.Errorf("404 is not ErrNotFound")
			}
			if len(e.gh.Dispatches()) != 0 {
				t.Errorf("dispatched %d times", len(e.gh.Dispatches()))
			}
		})
	}
}

// TestDispatchJitter: full jitter draws in [0, ceiling].
func TestDispatchJitter(t *testing.T) {
	e := setup(t, nil, ghapp.WithRand(zeroRand{}))
	e.gh.Fail(dispatchPath, ghfake.Status(500), ghfake.Status(500))
	if _, err := e.c.Dispatch(context.Background(), deployReq()); err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Sleeps(); !equalDurations(got, []time.Duration{0, 0}) {
		t.Errorf("waits = %v", got)
	}
}

type zeroRand struct{}

func (zeroRand) Int64N(int64) int64 { return 0 }

// TestDispatchAmbiguous: a connection lost after the POST was written is
// ambiguous whether or not GitHub applied it: it is not retried and no
// run is guessed (the caller resolves it with FindDispatchedRuns).
func TestDispatchAmbiguous(t *testing.T) {
	ctx := context.Background()
	t.Run("applied", func(t *testing.T) {
		e := setup(t, nil)
		e.gh.Fail(dispatchPath, ghfake.ApplyThenReset())
		_, err := e.c.Dispatch(ctx, deployReq())
		if !ghapp.IsAmbiguous(err) || pipeline.IsPermanent(err) {
			t.Fatalf("err = %v, want ambiguous", err)
		}
		if d := e.gh.Dispatches(); len(d) != 1 || e.gh.Count(dispatchPath) != 1 {
			t.Fatalf("dispatches %+v, POSTs %d; want 1 and 1", d, e.gh.Count(dispatchPath))
		}
		runs, err := e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "trunk", e.clock.Now().Add(-time.Minute), nil)
		if err != nil || len(runs) != 1 || runs[0].RunID != e.gh.Dispatches()[0].RunID {
			t.Errorf("search after the ambiguous dispatch: %+v, %v", runs, err)
		}
	})
	t.Run("not applied", func(t *testing.T) {
		e := setup(t, nil)
		e.gh.Fail(dispatchPath, ghfake.ConnReset(), ghfake.ConnReset())
		_, err := e.c.Dispatch(ctx, deployReq())
		if !ghapp.IsAmbiguous(err) || !errors.Is(err, ghapp.ErrAmbiguous) || pipeline.IsPermanent(err) {
			t.Fatalf("err = %v, want ambiguous", err)
		}
		if len(e.gh.Dispatches()) != 0 || e.gh.Count(dispatchPath) != 1 {
			t.Errorf("dispatches %d, POSTs %d", len(e.gh.Dispatches()), e.gh.Count(dispatchPath))
		}
	})
	t.Run("other runs of the workflow do not count", func(t *testing.T) {
		e := setup(t, nil)
		branch := "trunk"
		e.gh.AddRun(ghfake.Run{Repository: "acme/deploy", WorkflowPath: ".github/workflows/cd.yml", Event: "workflow_dispatch", HeadBranch: &branch, Actor: "someone"})
		e.gh.Fail(dispatchPath, ghfake.ConnReset())
		if _, err := e.c.Dispatch(ctx, deployReq()); !ghapp.IsAmbiguous(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestDispatchNetworkBeforeWrite: a failure before the request is written
// (dial, DNS) is retried; it cannot have dispatched.
func TestDispatchNetworkBeforeWrite(t *testing.T) {
	ft := &failingTransport{next: http.DefaultTransport}
	e := setup(t, nil, ghapp.WithHTTPClient(&http.Client{Transport: ft, Timeout: 5 * time.Second}), ghapp.WithAppSlug("dispatcher-test"))
	// Warm the token and installation caches, then fail the dispatch.
	if _, err := e.c.Dispatch(context.Background(), deployReq()); err != nil {
		t.Fatal(err)
	}
	ft.n.Store(2)
	res, err := e.c.Dispatch(context.Background(), deployReq())
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || len(e.gh.Dispatches()) != 2 {
		t.Errorf("result %+v, dispatches %d", res, len(e.gh.Dispatches()))
	}
	if got := e.clock.Sleeps(); !equalDurations(got, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}) {
		t.Errorf("waits = %v", got)
	}
}

// TestDispatchTokenRefresh: a revoked token (401) is replaced once.
func TestDispatchTokenRefresh(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	if _, err := e.c.Dispatch(ctx, deployReq()); err != nil {
		t.Fatal(err)
	}
	e.gh.RevokeTokens()
	res, err := e.c.Dispatch(ctx, deployReq())
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || len(e.gh.Dispatches()) != 2 || e.c.Stats().TokenRequests != 2 {
		t.Errorf("result %+v, dispatches %d, stats %+v", res, len(e.gh.Dispatches()), e.c.Stats())
	}
}

// TestDispatchTokenFailures: minting a token fails transiently (retried)
// or because the installation is gone (ErrNoInstallation, permanent).
func TestDispatchTokenFailures(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	e.gh.Fail("POST /app/installations/*/access_tokens", ghfake.Status(500))
	if res, err := e.c.Dispatch(ctx, deployReq()); err != nil || res.Attempts != 2 {
		t.Fatalf("res %+v err %v", res, err)
	}
	e.gh.RemoveInstallation(instOther)
	_, err := e.c.Dispatch(ctx, pipeline.DispatchRequest{Repository: "other/web", Workflow: "cd.yml", Ref: "main"})
	if !errors.Is(err, ghapp.ErrNoInstallation) || !pipeline.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
}

// TestDispatchInvalidRequests never reach GitHub.
func TestDispatchInvalidRequests(t *testing.T) {
	e := setup(t, nil)
	for _, req := range []pipeline.DispatchRequest{
		{Repository: "acme", Workflow: "cd.yml", Ref: "main"},
		{Repository: "acme/deploy/x", Workflow: "cd.yml", Ref: "main"},
		{Repository: "acme/deploy", Workflow: "../cd.yml", Ref: "main"},
		{Repository: "acme/deploy", Workflow: "cd.yml?x=1", Ref: "main"},
		{Repository: "acme/deploy", Workflow: "cd.yml", Ref: ""},
	} {
		if _, err := e.c.Dispatch(context.Background(), req); !pipeline.IsPermanent(err) {
			t.Errorf("%+v: err = %v, want permanent", req, err)
		}
	}
	if n := len(e.gh.Requests()); n != 0 {
		t.Errorf("%d requests made", n)
	}
}

// TestDispatchSerialisedPerInstallation: concurrent dispatches through one
// installation never overlap at GitHub (the fake flags overlaps).
func TestDispatchSerialisedPerInstallation(t *testing.T) {
	e := setup(t, nil)
	if _, err := e.c.Dispatch(context.Background(), deployReq()); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := e.c.Dispatch(context.Background(), deployReq())
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if v := e.gh.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	if n := len(e.gh.Dispatches()); n != 9 {
		t.Errorf("dispatches = %d", n)
	}
}

// truncatingTransport cuts the body of every 2xx answer to a dispatch
// POST: the status arrived (GitHub applied the dispatch), the body did not.
type truncatingTransport struct{ next http.RoundTripper }

func (t truncatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/dispatches") && resp.StatusCode/100 == 2 {
		resp.Body.Close()
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"workflow_run_id":`), iotest.ErrReader(io.ErrUnexpectedEOF)))
	}
	return resp, err
}

// TestDispatchAppliedBodyLost: a 2xx whose body cannot be read means the
// dispatch was applied. It must not be reported as a permanent failure:
// the pipeline would release its claim and dead-letter the item, and a
// replay would dispatch a second time. The run id is unknown (0): a search
// could take another dispatch's run.
func TestDispatchAppliedBodyLost(t *testing.T) {
	e := setup(t, nil, ghapp.WithHTTPClient(&http.Client{Transport: truncatingTransport{http.DefaultTransport}, Timeout: 5 * time.Second}),
		ghapp.WithAppSlug("dispatcher-test"))
	res, err := e.c.Dispatch(context.Background(), deployReq())
	if err != nil {
		t.Fatalf("err = %v (permanent %v), want success: GitHub answered 2xx", err, pipeline.IsPermanent(err))
	}
	d := e.gh.Dispatches()
	if len(d) != 1 || e.gh.Count(dispatchPath) != 1 {
		t.Fatalf("dispatches %d, POSTs %d; want 1 and 1", len(d), e.gh.Count(dispatchPath))
	}
	if res.RunID != 0 || res.Attempts != 1 {
		t.Errorf("result %+v, want no run id after 1 attempt", res)
	}
}

// TestDispatch5xxDoesNotAdoptAnotherDispatchsRun: after a 5xx the client
// checks whether its POST was applied anyway by looking for a run of the
// workflow; a run that an earlier dispatch of the same workflow (for
// another source run) already returned is not this one's. Adopting it
// loses the dispatch: nothing is retried and the item is recorded as done.
func TestDispatch5xxDoesNotAdoptAnotherDispatchsRun(t *testing.T) {
	e := setup(t, nil, ghapp.WithAppSlug("dispatcher-test"))
	first, err := e.c.Dispatch(context.Background(), deployReq())
	if err != nil {
		t.Fatal(err)
	}
	e.gh.Fail(dispatchPath, ghfake.Status(500)) // not applied
	second, err := e.c.Dispatch(context.Background(), deployReq())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.gh.Dispatches()); n != 2 {
		t.Fatalf("%d dispatches applied, want 2: the second dispatch was lost", n)
	}
	if second.RunID == first.RunID {
		t.Errorf("the second dispatch reports the first one's run %d", first.RunID)
	}
}

// TestTokenSecondaryLimit: a secondary rate limit on the token request is
// transient (retried after Retry-After), not a permanent 403; a plain 403
// there stays permanent.
func TestTokenSecondaryLimit(t *testing.T) {
	tokens := "POST /app/installations/*/access_tokens"
	e := setup(t, nil)
	e.gh.Fail(tokens, ghfake.SecondaryLimit(3*time.Second))
	if _, err := e.c.Dispatch(context.Background(), deployReq()); err != nil {
		t.Fatalf("err = %v, want the token retried after the secondary limit", err)
	}
	if got := e.clock.Sleeps(); !equalDurations(got, []time.Duration{3 * time.Second}) {
		t.Errorf("waits = %v, want [3s]", got)
	}
	e2 := setup(t, nil)
	e2.gh.Fail(tokens, ghfake.SecondaryLimit(time.Second), ghfake.SecondaryLimit(time.Second), ghfake.SecondaryLimit(time.Second))
	_, err := e2.c.Dispatch(context.Background(), deployReq())
	if !ghapp.IsTransient(err) || !errors.Is(err, ghapp.ErrRateLimited) || !strings.Contains(err.Error(), "secondary rate limit") {
		t.Errorf("err = %v, want a transient rate limit naming GitHub's message", err)
	}
	e3 := setup(t, nil)
	e3.gh.Fail(tokens, ghfake.Fault{Status: 403, Message: "This installation has been suspended"})
	if _, err := e3.c.Dispatch(context.Background(), deployReq()); !pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "suspended") {
		t.Errorf("err = %v, want permanent with GitHub's message", err)
	}
}
