package ghapp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// The cap on GitHub's answers is 10 MiB; these pad an answer to just over
// and just under it (the fake streams the padding as JSON whitespace, so
// the answer stays valid JSON and only its size is wrong).
const (
	overCap  = 10<<20 + 1
	underCap = 10<<20 - 4<<10
)

// TestResponseCapConfigRead: an answer over the cap makes the file
// unreadable, permanently (the same request would get the same answer),
// after one request, instead of the client reading it all into memory.
func TestResponseCapConfigRead(t *testing.T) {
	requireParser(t)
	e := setup(t, nil, slowClient())
	e.gh.Fail("GET /repos/acme/api/contents/**", ghfake.HugeBody(overCap))
	res := e.c.Configs(instAcme).Lookup(context.Background(), "acme/api")
	if res.Status != plan.ConfigUnreadable || !strings.Contains(res.Problem, "larger than 10485760 bytes") ||
		!strings.HasSuffix(res.Problem, "[permanent]") {
		t.Fatalf("lookup = %v %q, want unreadable: larger than 10485760 bytes [permanent]", res.Status, res.Problem)
	}
	if n := e.gh.Count("GET /repos/acme/api/contents/**"); n != 1 {
		t.Errorf("%d content requests, want 1: an oversized answer is not retried", n)
	}
}

// TestResponseCapUnderCap: an answer just under the cap is read normally.
func TestResponseCapUnderCap(t *testing.T) {
	requireParser(t)
	e := setup(t, nil, slowClient())
	e.gh.Fail("GET /repos/acme/api/contents/**", ghfake.HugeBody(underCap))
	if res := e.c.Configs(instAcme).Lookup(context.Background(), "acme/api"); res.Status != plan.ConfigFound {
		t.Fatalf("lookup = %v %q, want found", res.Status, res.Problem)
	}
}

// TestResponseCapRunList: the run search fails with ErrResponseTooLarge,
// not retried.
func TestResponseCapRunList(t *testing.T) {
	e := setup(t, nil, ghappSlug(), slowClient())
	runs := "GET /repos/acme/deploy/actions/workflows/cd.yml/runs"
	e.gh.Fail(runs, ghfake.HugeBody(overCap), ghfake.HugeBody(overCap), ghfake.HugeBody(overCap))
	_, _, err := e.c.FindDispatchedRun(context.Background(), instAcme, "acme/deploy", "cd.yml", e.clock.Now().Add(-time.Minute))
	if !isTooLarge(err) || !pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent ErrResponseTooLarge", err)
	}
	if n := e.gh.Count(runs); n != 1 {
		t.Errorf("%d run listings, want 1", n)
	}
}

// TestResponseCapDispatchApplied: a dispatch answered 2xx with an
// oversized body was applied: it succeeds without a run id (a search could
// take another dispatch's run) and is never sent again.
func TestResponseCapDispatchApplied(t *testing.T) {
	e := setup(t, nil, ghappSlug(), slowClient())
	e.gh.Fail(dispatchPath, ghfake.Fault{After: true, BodyBytes: overCap})
	res, err := e.c.Dispatch(context.Background(), deployReq())
	if err != nil {
		t.Fatalf("err = %v, want success: GitHub answered 2xx", err)
	}
	d := e.gh.Dispatches()
	if len(d) != 1 || e.gh.Count(dispatchPath) != 1 || res.RunID != 0 {
		t.Fatalf("dispatches %d, POSTs %d, result %+v; want one dispatch, run id unknown", len(d), e.gh.Count(dispatchPath), res)
	}
}

// TestResponseCapToken: an oversized installation token answer fails the
// call before anything is dispatched, without minting again and again.
func TestResponseCapToken(t *testing.T) {
	e := setup(t, nil, ghappSlug(), slowClient())
	tokens := "POST /app/installations/*/access_tokens"
	e.gh.Fail(tokens, ghfake.HugeBody(overCap), ghfake.HugeBody(overCap), ghfake.HugeBody(overCap))
	_, err := e.c.Dispatch(context.Background(), deployReq())
	if !isTooLarge(err) || !pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent ErrResponseTooLarge", err)
	}
	if n, p := e.gh.Count(tokens), e.gh.Count(dispatchPath); n != 1 || p != 0 {
		t.Errorf("%d token requests, %d dispatches; want 1 and 0", n, p)
	}
}

func ghappSlug() ghapp.Option { return ghapp.WithAppSlug("dispatcher-test") }

// slowClient gives the 10 MiB answers time to stream on a busy machine
// (-race, 2 cores): the tests are about the cap, not the timeout.
func slowClient() ghapp.Option {
	return ghapp.WithHTTPClient(&http.Client{Timeout: 2 * time.Minute})
}

func isTooLarge(err error) bool {
	return errors.Is(err, ghapp.ErrResponseTooLarge) && strings.Contains(err.Error(), "larger than 10485760 bytes")
}
