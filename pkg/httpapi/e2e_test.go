package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

func found(t *testing.T, repo, yml string) plan.ConfigResult {
	t.Helper()
	cfg, diags := dispatching.Parse(repo+"/dispatching.yml", []byte(yml))
	if cfg == nil || dispatching.HasErrors(diags) {
		t.Fatalf("%s: %v", repo, diags)
	}
	return plan.ConfigResult{Status: plan.ConfigFound, Config: cfg, Path: repo + "/dispatching.yml"}
}

// The stages wired as serve wires them, over fakes: HTTP → requests queue
// → planner worker → targets queue → dispatcher worker → GitHub. The same
// delivery arrives twice (after the replay window) and GitHub fails the
// first dispatch calls with 503: every authorised target is dispatched
// exactly once and every fact counts once.
func TestEndToEndExactlyOnce(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	// The real embedded store and its runtime loop; GitHub is a fake.
	db, err := local.Open(t.Context(), filepath.Join(t.TempDir(), "e2e.db"), local.Options{Create: true, ReplayWindow: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var calls atomic.Int32
	gh := &pipelinetest.GitHub{
		ConfigResults: map[string]plan.ConfigResult{
			"acme/api": found(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets:
      - {repository: deploy, workflow: cd.yml}
      - {repository: web, workflow: cd.yml}
      - {repository: infra, workflow: plan.yml}
`),
			"acme/deploy": found(t, "acme/deploy", "inbound:\n  - source: {repository: acme/api, workflow: ci.yml}\n    targets: [{workflow: cd.yml}]\n"),
			"acme/web":    found(t, "acme/web", "inbound:\n  - source: {repository: api, workflow: ci.yml}\n    targets: [{workflow: cd.yml}]\n"),
		},
	}
	gh.DispatchFunc = func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		if calls.Add(1) <= 2 {
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Status: 503, Message: "Service Unavailable", NotSent: true}
		}
		return pipeline.DispatchResult{Attempts: 1, RunID: int64(5000 + n)}, nil
	}

	in, err := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte(secret), Apply: db, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Ingress: in, RateLimit: httpapi.DefaultRateLimit, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	planner, err := pipeline.NewPlanner(pipeline.PlannerConfig{Apply: db, Lineage: db, GitHub: gh, Policy: plan.DefaultPolicy(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	dispatcher, err := pipeline.NewDispatcher(pipeline.DispatcherConfig{Apply: db, Claims: db, GitHub: gh, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	opts := local.WorkerOptions{Concurrency: 2, RetryDelay: func(int, error) time.Duration { return 0 }, Logger: log}
	done := make(chan struct{}, 2)
	go func() {
		db.RunWorker(ctx, pipeline.QueueRequests, func(ctx context.Context, m pipeline.Message) pipeline.Step {
			return planner.Plan(ctx, m.Body, m.Delivery())
		}, opts)
		done <- struct{}{}
	}()
	go func() {
		db.RunWorker(ctx, pipeline.QueueTargets, func(ctx context.Context, m pipeline.Message) pipeline.Step {
			return dispatcher.Dispatch(ctx, m.Body, m.Delivery())
		}, opts)
		done <- struct{}{}
	}()
	defer func() { cancel(); <-done; <-done }()

	hs := httptest.NewServer(srv)
	defer hs.Close()
	body := workflowRun(t)
	send := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hs.URL+"/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Delivery", "e2e-1")
		req.Header.Set("X-GitHub-Event", "workflow_run")
		req.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
		res, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 202 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	send()
	time.Sleep(time.Millisecond)
	send()

	count := func(typ string) int {
		evs, err := db.RecentEvents(t.Context(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	depth := func(q string) (pending, dead int64) {
		st, err := db.Queue(q).Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st.Visible + st.NotVisible, st.DeadLetters
	}
	// The deadline only stops a broken test from hanging.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pr, _ := depth(pipeline.QueueRequests)
		pt, _ := depth(pipeline.QueueTargets)
		if count(facts.TypeTriggerSucceeded) >= 2 && pr+pt == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: succeeded %d, pending %d/%d", count(facts.TypeTriggerSucceeded), pr, pt)
		}
		time.Sleep(2 * time.Millisecond)
	}
	ok := map[string]int{}
	for _, d := range gh.Dispatches() {
		ok[d.Repository]++
	}
	succeeded := int(calls.Load()) - 2
	if succeeded != 2 {
		t.Errorf("successful dispatch calls = %d, want 2 (deploy and web once each); calls by repo %v", succeeded, ok)
	}
	_, dr := depth(pipeline.QueueRequests)
	_, dt := depth(pipeline.QueueTargets)
	if n := dr + dt; n != 0 {
		t.Errorf("%d messages dead-lettered", n)
	}
	for typ, want := range map[string]int{
		facts.TypeRequestAccepted: 1, facts.TypePlanCreated: 1, facts.TypeTargetQueued: 2,
		facts.TypeTargetDenied: 1, facts.TypeTriggerSucceeded: 2, facts.TypeTriggerFailed: 0,
	} {
		if n := count(typ); n != want {
			t.Errorf("%s: %d, want %d", typ, n, want)
		}
	}
}
