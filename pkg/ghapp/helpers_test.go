package ghapp_test

import (
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
)

// fakeClock records every sleep and advances time by it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// maxRand makes full jitter pick the ceiling, so waits are exact.
type maxRand struct{}

func (maxRand) Int64N(n int64) int64 { return n - 1 }

const (
	instAcme  = 11
	instOther = 22
)

const inboundYAML = `inbound:
  - source:
      repository: acme/api
      workflow: ci.yml
    targets:
      - workflow: cd.yml
        accept_inputs: [sha]
`

// cdWorkflow is acme/deploy's and other/web's cd.yml: the inputs the
// tests send are declared (the fake refuses undeclared ones with 422).
const cdWorkflow = `on:
  workflow_dispatch:
    inputs:
      sha: {}
      environment: {}
      call: {}
`

const outboundYAML = `outbound:
  - source:
      workflow: ci.yml
    targets:
      - repository: deploy
        workflow: cd.yml
`

type env struct {
	gh    *ghfake.Server
	c     *ghapp.Client
	clock *fakeClock
}

// setup starts a fake with acme/api (source, root dispatching.yml),
// acme/deploy (target, .github/dispatching.yml, cd.yml) in installation
// 11 and other/web (target, cd.yml) in installation 22.
func setup(t testing.TB, fakeOpts []ghfake.Option, opts ...ghapp.Option) env {
	t.Helper()
	clock := newClock()
	gh := ghfake.New(append([]ghfake.Option{ghfake.WithT(t), ghfake.WithClock(clock.Now)}, fakeOpts...)...)
	t.Cleanup(gh.Close)
	gh.AddRepo(ghfake.Repo{FullName: "acme/api", Files: map[string]string{
		"dispatching.yml":            outboundYAML,
		".github/workflows/ci.yml":   "on: push\n",
		".github/dispatching.yml":    "this file is hidden by the root one",
		"README.md":                  "# api\n",
		".github/workflows/lint.yml": "on: push\n",
	}})
	gh.AddRepo(ghfake.Repo{FullName: "acme/deploy", DefaultBranch: "trunk", Branches: []string{"release"}, Files: map[string]string{
		".github/dispatching.yml":  inboundYAML,
		".github/workflows/cd.yml": cdWorkflow,
	}})
	gh.AddRepo(ghfake.Repo{FullName: "other/web", Files: map[string]string{
		"dispatching.yml":          inboundYAML,
		".github/workflows/cd.yml": cdWorkflow,
	}})
	gh.AddInstallation(instAcme, "acme/api", "acme/deploy")
	gh.AddInstallation(instOther, "other/web")
	base := []ghapp.Option{
		ghapp.WithBaseURL(gh.URL()),
		ghapp.WithClock(clock),
		ghapp.WithRand(maxRand{}),
		// Long enough for a busy machine (-race, 2 cores); tests that wait
		// for a gate bound themselves with a context.
		ghapp.WithHTTPClient(&http.Client{Timeout: time.Minute}),
	}
	c, err := ghapp.New(gh.AppID(), gh.PrivateKeyPEM(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return env{gh: gh, c: c, clock: clock}
}

// requireParser fails a test that needs dispatching.Parse when the
// parser rejects a valid file (the tests below would mislead).
func requireParser(t *testing.T) {
	t.Helper()
	if cfg, diags := dispatching.Parse("probe.yml", []byte(inboundYAML)); cfg == nil {
		t.Fatalf("dispatching.Parse rejects a valid file: %v", diags)
	}
}

// failingTransport fails the first n requests before writing them (as a
// dial error would), then passes to next.
type failingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

var errDial = errors.New("dial tcp: connection refused")

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		return nil, errDial
	}
	return f.next.RoundTrip(r)
}

func asError(t *testing.T, err error) *ghapp.Error {
	t.Helper()
	var e *ghapp.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *ghapp.Error", err, err)
	}
	return e
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
