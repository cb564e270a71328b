package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/internal/npmfixture"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
)

// The sample webhook of examples/webhook (acme/api ci.yml succeeded on
// main) against the example world: serve dispatches acme/deploy cd.yml
// (ref main, inputs sha and environment) and acme/docs publish.yml (ref
// trunk) exactly once, denies the five others with their reasons, records
// every step, and writes one result issue in acme/api.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	srv := start(t, loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "true"})))
	body := samplePayload(t, 0)

	for _, path := range []string{"/health", "/version"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, b)
		}
		if path == "/version" && !strings.Contains(string(b), `"version":"v1.2.3-test"`) {
			t.Errorf("GET /version: %s", b)
		}
	}

	const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	if code, b := send(t, srv.URL, "workflow_run", delivery, body); code != 202 || !strings.Contains(b, `"accepted":true`) {
		t.Fatalf("webhook: %d %s", code, b)
	}
	store := srv.App.Store
	waitFor(t, "two dispatches, the issue and empty queues", func() bool {
		return len(fake.Dispatches()) >= 2 && len(fake.Issues()) >= 1 && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))

	// The same delivery again (GitHub's redelivery keeps the id): 409.
	if code, b := send(t, srv.URL, "workflow_run", delivery, body); code != 409 {
		t.Errorf("duplicate delivery: %d %s, want 409", code, b)
	}
	// The same run under a new delivery id (e.g. a manual re-send): planned
	// again, dispatched nothing new.
	if code, b := send(t, srv.URL, "workflow_run", delivery+"-again", body); code != 202 {
		t.Fatalf("second delivery: %d %s", code, b)
	}
	waitFor(t, "the second delivery's plan", func() bool {
		f, ok, err := store.Delivery(context.Background(), delivery+"-again")
		return err == nil && ok && f.Planned == 1 && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))

	ds := fake.Dispatches()
	if len(ds) != 2 {
		t.Fatalf("dispatches = %+v, want 2", ds)
	}
	byRepo := map[string]ghfake.Dispatch{}
	for _, d := range ds {
		byRepo[d.Repository] = d
	}
	if d := byRepo["acme/deploy"]; d.Workflow != "cd.yml" || d.Ref != "main" ||
		d.Inputs["sha"] != "9f3c1e2d4b5a69788796a5b4c3d2e1f0a9b8c7d6" || d.Inputs["environment"] != "staging" || len(d.Inputs) != 2 {
		t.Errorf("acme/deploy dispatch = %+v", d)
	}
	if d := byRepo["acme/docs"]; d.Workflow != "publish.yml" || d.Ref != "trunk" || len(d.Inputs) != 0 {
		t.Errorf("acme/docs dispatch = %+v", d)
	}
	for _, d := range ds {
		if !d.RunDetails || d.Installation != installation {
			t.Errorf("dispatch %s: run details %v, installation %d", d.Repository, d.RunDetails, d.Installation)
		}
	}

	// One result issue, in the source repository.
	issues := fake.Issues()
	if len(issues) != 1 {
		t.Fatalf("issues = %+v, want 1", issues)
	}
	is := issues[0]
	if is.Repository != "acme/api" || !strings.Contains(is.Title, "success=2") || !strings.Contains(is.Title, "denied=5") {
		t.Errorf("issue %q in %s", is.Title, is.Repository)
	}
	for _, want := range []string{"Delivery: " + delivery, "inputs_not_accepted", "inbound_not_authorized",
		"invalid_target_config", "missing_target_config", "self_dispatch_blocked", "SUCCESS acme/deploy :: cd.yml"} {
		if !strings.Contains(is.Body, want) {
			t.Errorf("issue body lacks %q:\n%s", want, is.Body)
		}
	}

	// Projections: two deliveries accepted and planned, but one run: its
	// targets are queued, denied and dispatched once (target facts are
	// identified by the dispatch, not the delivery, so the second
	// delivery's re-published facts count once).
	c := summary(t, store)
	want := facts.Counts{RequestAccepted: 2, PlanCreated: 2, TargetQueued: 2, TargetDenied: 5, TriggerSucceeded: 2}
	want.Total = want.RequestAccepted + want.PlanCreated + want.TargetQueued + want.TargetDenied + want.TriggerSucceeded
	if c != want {
		t.Errorf("summary counts = %+v\nwant %+v", c, want)
	}
	f, ok, err := store.Delivery(context.Background(), delivery)
	if err != nil || !ok {
		t.Fatalf("delivery funnel: %v %v", ok, err)
	}
	if f.SourceRepo != "acme/api" || f.SourceRunID != 4242 || f.Accepted != 1 || f.Planned != 1 || f.Queued != 2 ||
		f.Denied != 5 || f.Succeeded != 2 || f.Failed != 0 || f.LatencySeconds == nil {
		t.Errorf("funnel = %+v", f)
	}
	journey, err := store.Journey(context.Background(), delivery)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	runIDs := map[int64]bool{}
	for i, e := range journey {
		types[e.Type]++
		if e.SpecVersion != "1.0" || e.Subject != "acme/api" || e.Data.DeliveryID != delivery {
			t.Errorf("journey[%d] = %+v", i, e)
		}
		if e.Type == facts.TypeTriggerSucceeded {
			runIDs[e.Data.TargetRunID] = true
		}
	}
	if journey[0].Type != facts.TypeRequestAccepted {
		t.Errorf("journey starts with %s", journey[0].Type)
	}
	if types[facts.TypeRequestAccepted] != 1 || types[facts.TypePlanCreated] != 1 || types[facts.TypeTargetQueued] != 2 ||
		types[facts.TypeTargetDenied] != 5 || types[facts.TypeTriggerSucceeded] != 2 || types[facts.TypeTriggerFailed] != 0 {
		t.Errorf("journey types = %v", types)
	}
	for _, d := range ds {
		if !runIDs[d.RunID] {
			t.Errorf("run %d of %s not recorded in trigger.succeeded (%v)", d.RunID, d.Repository, runIDs)
		}
	}

	// Chains: the run dispatched in acme/deploy knows its lineage.
	chain, err := store.ChainOf(context.Background(), "acme/deploy", byRepo["acme/deploy"].RunID)
	if err != nil || len(chain) != 2 {
		t.Errorf("chain of the deploy run = %+v, %v", chain, err)
	}

	srv.Stop()
	checkLogs(t, srv.Logs, delivery)
}

// checkLogs: every line is JSON; every line that names the delivery carries
// it as correlation_id; the secret and the private key never appear; the
// startup line names the address, the store and the version.
func checkLogs(t *testing.T, logs *syncBuffer, delivery string) {
	t.Helper()
	raw := logs.String()
	for _, bad := range []string{secret, "PRIVATE KEY"} {
		if strings.Contains(raw, bad) {
			t.Errorf("logs contain %q", bad)
		}
	}
	startup := false
	correlated := 0
	for _, l := range logs.lines(t) {
		if l["msg"] == "dispatcher serving" {
			startup = l["addr"] != nil && l["db"] != nil && l["version"] == "v1.2.3-test"
		}
		b, _ := json.Marshal(l)
		if strings.Contains(string(b), delivery) && l["correlation_id"] == nil {
			t.Errorf("log line about the delivery without correlation_id: %s", b)
		}
		if l["correlation_id"] == delivery {
			correlated++
		}
	}
	if !startup {
		t.Errorf("no startup line with addr, db and version:\n%s", raw)
	}
	if correlated == 0 {
		t.Errorf("no log line carries correlation_id %s", delivery)
	}
}

// Every workflow_run example of @octokit/webhooks-examples (with the
// installation GitHub adds for Apps) goes through serve: completed runs
// with a workflow path are planned and dispatch octo-org/deploy once per
// run (two examples share a run id: one dispatch), "requested" ones are
// ignored, and the one without a path is refused with 400. octo-org/web
// has no branch "master" (the ref dispatched, the source's branch):
// GitHub's 422 is recorded, the work item is dead-lettered with that
// error, and the result issue reports the failure.
func TestServeOctokitExamples(t *testing.T) {
	t.Parallel()
	examples := npmfixture.WorkflowRunExamples(t)
	fake := ghfake.New(ghfake.WithT(t))
	t.Cleanup(fake.Close)
	fake.AddRepo(ghfake.Repo{FullName: "octo-org/octo-repo", DefaultBranch: "master", Files: map[string]string{
		".github/workflows/test.yml": "on: push\n",
		"dispatching.yml": "outbound:\n  - source: {workflow: test.yml}\n    targets:\n" +
			"      - {repository: deploy, workflow: cd.yml, inputs: {sha: '{{ source.sha }}'}}\n" +
			"      - {repository: web, workflow: cd.yml}\n",
	}})
	for r, branch := range map[string]string{"deploy": "master", "web": "main"} {
		fake.AddRepo(ghfake.Repo{FullName: "octo-org/" + r, DefaultBranch: branch, Files: map[string]string{
			".github/workflows/cd.yml": "on:\n  workflow_dispatch:\n    inputs:\n      sha: {}\n",
			"dispatching.yml": "inbound:\n  - source: {repository: octo-repo, workflow: test.yml}\n" +
				"    targets: [{workflow: cd.yml, accept_inputs: [sha]}]\n",
		}})
	}
	fake.AddRepo(ghfake.Repo{FullName: "Codertocat/Hello-World"})
	fake.AddInstallation(installation, "octo-org/octo-repo", "octo-org/deploy", "octo-org/web", "Codertocat/Hello-World")
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	srv := start(t, loadSettings(t, env(fake, db, nil)))

	accepted := 0
	for i, ex := range examples {
		var m map[string]any
		if err := json.Unmarshal(ex, &m); err != nil {
			t.Fatal(err)
		}
		m["installation"] = map[string]any{"id": installation}
		body, _ := json.Marshal(m)
		wr := m["workflow_run"].(map[string]any)
		want := 202
		if m["action"] == "completed" && wr["path"] == nil {
			want = 400
		}
		code, b := send(t, srv.URL, "workflow_run", fmt.Sprintf("octokit-%d", i), body)
		if code != want {
			t.Errorf("example %d (%s): %d %s, want %d", i, m["action"], code, b, want)
		}
		if code == 202 && !strings.Contains(b, "ignored") {
			accepted++
			// One delivery at a time: two deliveries of one run planned at
			// once share work items (the targets queue keeps one per key),
			// and the result issue of each waits for outcomes the other
			// delivery's items record (see the report).
			waitFor(t, "the delivery to settle", func() bool {
				return summary(t, srv.App.Store).PlanCreated == int64(accepted) && settled(t, srv.App.Store)
			}, nil)
		}
	}
	if accepted < 2 {
		t.Fatalf("only %d examples accepted for planning", accepted)
	}
	store := srv.App.Store
	waitFor(t, "every accepted example planned", func() bool {
		return summary(t, store).PlanCreated == int64(accepted) && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))
	got := countDispatches(fake)
	if got["octo-org/deploy cd.yml"] != 1 || len(got) != 1 {
		t.Errorf("dispatches = %v, want deploy once (the examples share run 289782451)", got)
	}
	for _, d := range fake.Dispatches() {
		if d.Ref != "master" || d.Inputs["sha"] == "" {
			t.Errorf("dispatch %+v, want ref master and a sha", d)
		}
	}
	dead := dlq(t, store, "targets")
	if len(dead) != 1 || dead[0].TargetRepo != "octo-org/web" || !strings.Contains(dead[0].LastError, "No ref found for: master") {
		t.Errorf("targets DLQ = %+v, want octo-org/web with GitHub's 422 message", dead)
	}
	if n := len(dlq(t, store, "requests")); n != 0 {
		t.Errorf("%d requests dead-lettered", n)
	}
	if c := summary(t, store); c.TriggerSucceeded != 1 || c.TriggerFailed != 1 {
		t.Errorf("summary = %+v, want one success and one failure", c)
	}
	waitFor(t, "the result issue", func() bool { return len(fake.Issues()) > 0 }, nil)
	if is := fake.Issues(); len(is) != 1 || is[0].Repository != "octo-org/octo-repo" ||
		!strings.Contains(is[0].Body, "FAILED octo-org/web :: cd.yml") || !strings.Contains(is[0].Body, "No ref found for: master") {
		t.Errorf("issues = %+v", is)
	}
}
