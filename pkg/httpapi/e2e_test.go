package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
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
	requests, targets := &pipelinetest.Queue{}, &pipelinetest.Queue{}
	replay := &pipelinetest.ReplayGuard{Window: time.Nanosecond}
	store, claims, lineage := &pipelinetest.Facts{}, &pipelinetest.Claims{}, &pipelinetest.Lineage{}
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

	in, err := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte(secret), Requests: requests, Replay: replay, Facts: store, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Ingress: in, RateLimit: httpapi.DefaultRateLimit, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	planner, err := pipeline.NewPlanner(pipeline.PlannerConfig{Targets: targets, Facts: store, Lineage: lineage, GitHub: gh, Policy: plan.DefaultPolicy(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	dispatcher, err := pipeline.NewDispatcher(pipeline.DispatcherConfig{Claims: claims, Lineage: lineage, GitHub: gh, Facts: store, Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	opts := pipeline.WorkerOptions{Concurrency: 2, PollMin: time.Millisecond, PollMax: 5 * time.Millisecond,
		RetryDelay: func(pipeline.Message, error) time.Duration { return 0 }, Logger: log}
	done := make(chan struct{}, 2)
	go func() { pipeline.RunWorker(ctx, requests, planner.HandleMessage, opts); done <- struct{}{} }()
	go func() { pipeline.RunWorker(ctx, targets, dispatcher.HandleMessage, opts); done <- struct{}{} }()
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

	deadline := time.Now().Add(5 * time.Second)
	for store.Count(facts.TypeTriggerSucceeded) < 2 || len(requests.Pending())+len(targets.Pending()) > 0 {
		if time.Now().After(deadline) {
			for _, e := range store.All() {
				t.Logf("%s %+v", e.Type, e.Data)
			}
			t.Fatalf("not settled: succeeded %d, pending %d/%d, dead %v %v", store.Count(facts.TypeTriggerSucceeded),
				len(requests.Pending()), len(targets.Pending()), requests.Dead(), targets.Dead())
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
	if n := len(requests.Dead()) + len(targets.Dead()); n != 0 {
		t.Errorf("%d messages dead-lettered", n)
	}
	for typ, want := range map[string]int{
		facts.TypeRequestAccepted: 1, facts.TypePlanCreated: 1, facts.TypeTargetQueued: 2,
		facts.TypeTargetDenied: 1, facts.TypeTriggerSucceeded: 2, facts.TypeTriggerFailed: 0,
	} {
		if n := store.Count(typ); n != want {
			t.Errorf("%s: %d, want %d", typ, n, want)
		}
	}
}
