package pipeline_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

const secret = "test-secret"

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		out = append(out, m)
	}
	return out
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// world wires every stage over fakes.
type world struct {
	clock      *pipelinetest.Clock
	requests   *pipelinetest.Queue
	targets    *pipelinetest.Queue
	replay     *pipelinetest.ReplayGuard
	facts      *pipelinetest.Facts
	apply      pipeline.PortApplier
	claims     *pipelinetest.Claims
	lineage    *pipelinetest.Lineage
	gh         *pipelinetest.GitHub
	issues     *pipelinetest.Issues
	outcomes   *pipelinetest.Outcomes
	logs       *syncBuffer
	logger     *slog.Logger
	ingress    *pipeline.Ingress
	planner    *pipeline.Planner
	dispatcher *pipeline.Dispatcher
	policy     plan.Policy
}

type worldOption func(*world, *pipeline.PlannerConfig)

func withIssues(w *world, c *pipeline.PlannerConfig) {
	c.CreateIssues, c.Issues, c.Outcomes, c.Claims = true, w.issues, w.outcomes, w.claims
}

func withPolicy(p plan.Policy) worldOption {
	return func(w *world, c *pipeline.PlannerConfig) { c.Policy = p }
}

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	w := &world{clock: &pipelinetest.Clock{}, logs: &syncBuffer{}}
	w.logger = slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.requests = &pipelinetest.Queue{Now: w.clock.Now}
	w.targets = &pipelinetest.Queue{Now: w.clock.Now}
	w.replay = &pipelinetest.ReplayGuard{Now: w.clock.Now}
	w.facts = &pipelinetest.Facts{}
	w.claims = &pipelinetest.Claims{}
	w.lineage = &pipelinetest.Lineage{}
	w.issues = &pipelinetest.Issues{}
	w.outcomes = &pipelinetest.Outcomes{}
	w.gh = &pipelinetest.GitHub{ConfigResults: defaultConfigs(t)}
	var err error
	w.apply = pipeline.PortApplier{
		Queues: map[string]pipeline.Enqueuer{pipeline.QueueRequests: w.requests, pipeline.QueueTargets: w.targets},
		Replay: w.replay, Facts: w.facts, Claims: w.claims, Lineage: w.lineage, Outcomes: w.outcomes, Logger: w.logger,
	}
	w.ingress, err = pipeline.NewIngress(pipeline.IngressConfig{
		Secret: []byte(secret), Apply: w.apply, Now: w.clock.Now, Logger: w.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	pc := pipeline.PlannerConfig{
		Apply: w.apply, Lineage: w.lineage, GitHub: w.gh,
		Policy: plan.DefaultPolicy(), Now: w.clock.Now, Logger: w.logger,
	}
	for _, o := range opts {
		o(w, &pc)
	}
	w.policy = pc.Policy
	if w.planner, err = pipeline.NewPlanner(pc); err != nil {
		t.Fatal(err)
	}
	w.dispatcher, err = pipeline.NewDispatcher(pipeline.DispatcherConfig{
		Apply: w.apply, Claims: w.claims, GitHub: w.gh,
		Issues: w.issues, Outcomes: w.outcomes, Now: w.clock.Now, Logger: w.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func config(t *testing.T, repo, yml string) plan.ConfigResult {
	t.Helper()
	file := repo + "/dispatching.yml"
	cfg, diags := dispatching.Parse(file, []byte(yml))
	if dispatching.HasErrors(diags) || cfg == nil {
		t.Fatalf("config of %s: %v", repo, diags)
	}
	return plan.ConfigResult{Status: plan.ConfigFound, Config: cfg, Path: file}
}

// defaultConfigs: acme/api ci.yml fans out to deploy (authorised, with an
// input), web (denied: inputs not accepted) and billing (no config).
// acme/deploy cd.yml in turn targets acme/api ci.yml (a cycle) and
// acme/smoke tests.yml.
func defaultConfigs(t *testing.T) map[string]plan.ConfigResult {
	return map[string]plan.ConfigResult{
		"acme/api": config(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets:
      - {repository: deploy, workflow: cd.yml, inputs: {sha: "{{ source.sha }}"}}
      - {repository: acme/web, workflow: cd.yml, inputs: {sha: "{{ source.sha }}"}}
      - {repository: acme/billing, workflow: cd.yml, ref: release}
inbound:
  - source: {repository: acme/deploy, workflow: cd.yml}
    targets: [{workflow: ci.yml}]
`),
		"acme/deploy": config(t, "acme/deploy", `
inbound:
  - source: {repository: acme/api, workflow: ci.yml}
    targets: [{workflow: cd.yml, accept_inputs: [sha]}]
outbound:
  - source: {workflow: cd.yml}
    targets:
      - {repository: api, workflow: ci.yml}
      - {repository: smoke, workflow: tests.yml}
`),
		"acme/web": config(t, "acme/web", `
inbound:
  - source: {repository: acme/api, workflow: ci.yml}
    targets: [{workflow: cd.yml}]
`),
		"acme/smoke": config(t, "acme/smoke", `
inbound:
  - source: {repository: acme/deploy, workflow: cd.yml}
    targets: [{workflow: tests.yml}]
`),
	}
}

// run describes a workflow_run payload.
type run struct {
	owner, name, path string
	id                int64
	attempt           int
	branch            string
}

var apiRun = run{owner: "acme", name: "api", path: ".github/workflows/ci.yml", id: 42, attempt: 1, branch: "main"}

// payload builds a completed workflow_run webhook body; edit changes the
// decoded map before it is encoded.
func payload(t testing.TB, r run, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"action":       "completed",
		"installation": map[string]any{"id": 7},
		"repository": map[string]any{
			"name": r.name, "full_name": r.owner + "/" + r.name, "default_branch": "main",
			"owner": map[string]any{"login": r.owner},
		},
		"workflow_run": map[string]any{
			"id": r.id, "run_attempt": r.attempt, "name": "CI", "path": r.path,
			"head_branch": r.branch, "head_sha": "abc123def456abc123def456abc123def456abc1",
			"conclusion": "success", "status": "completed",
			"html_url":        "https://github.test/" + r.owner + "/" + r.name + "/actions/runs/42",
			"head_repository": map[string]any{"full_name": r.owner + "/" + r.name},
			"repository":      map[string]any{"full_name": r.owner + "/" + r.name},
		},
		"sender": map[string]any{"login": "octocat"},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request is the requests-queue message for a payload.
func request(t testing.TB, delivery string, body []byte) []byte {
	t.Helper()
	b, err := json.Marshal(pipeline.Request{DeliveryID: delivery, Event: "workflow_run", Payload: body})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func delivery(id string, body []byte) pipeline.WebhookDelivery {
	return pipeline.WebhookDelivery{
		ID: id, Event: "workflow_run", Signature: pipeline.Sign([]byte(secret), body),
		ContentType: "application/json", Body: body,
	}
}

func workItems(t *testing.T, q *pipelinetest.Queue) []pipeline.WorkItem {
	t.Helper()
	var out []pipeline.WorkItem
	for _, b := range q.Bodies() {
		var w pipeline.WorkItem
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatal(err)
		}
		out = append(out, w)
	}
	return out
}

// drainTargets hands every pending work item to the dispatcher once, as
// the first receive, and returns the errors.
func (w *world) drainTargets(t *testing.T) []error {
	t.Helper()
	var errs []error
	for _, b := range w.targets.Bodies() {
		if err := w.dispatcher.HandleWorkItem(t.Context(), b, pipeline.Delivery{ReceiveCount: 1, MaxReceives: 5}); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func newLogger(s *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
