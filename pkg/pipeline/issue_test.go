package pipeline_test

import (
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
)

// The issue-service case of the original's tests (behaviour.md §10).
func TestFormatIssueOriginalCase(t *testing.T) {
	title, body := pipeline.FormatIssue(pipeline.IssueSource{
		Repository: "source-owner/source-repo", Workflow: "ci.yml", WorkflowPath: ".github/workflows/ci.yml",
		RunID: 42, RunURL: "https://example/run/42",
	}, []pipeline.Outcome{
		{Index: 0, Repository: "team-a/target-a", Workflow: "deploy.yml", Status: pipeline.OutcomeSuccess, Attempts: 1},
		{Index: 1, Repository: "team-b/target-b", Workflow: "release.yml", Status: pipeline.OutcomeFailed, Attempts: 3, Error: "HTTP 422: No ref found for: main"},
		{Index: 2, Repository: "team-c/target-c", Workflow: "scan.yml", Status: pipeline.OutcomeDenied, Reason: "inbound_not_authorized", Detail: "no inbound rule in team-c/target-c/dispatching.yml allows source-owner/source-repo ci.yml"},
	})
	for _, s := range []string{"success=1", "failed=1", "denied=1"} {
		if !strings.Contains(title, s) {
			t.Errorf("title %q lacks %q", title, s)
		}
	}
	if want := "Dispatch results: ci.yml (success=1, failed=1, denied=1)"; title != want {
		t.Errorf("title = %q, want %q", title, want)
	}
	for _, line := range []string{
		"## Source Workflow",
		"- Path: .github/workflows/ci.yml",
		"Run ID: 42",
		"Run URL: https://example/run/42",
		"## Dispatch Outcomes",
		"SUCCESS team-a/target-a :: deploy.yml (attempts=1)",
		"FAILED team-b/target-b :: release.yml (attempts=3): HTTP 422: No ref found for: main",
		"## Authorization Denials",
		"DENIED team-c/target-c :: scan.yml (inbound_not_authorized): no inbound rule in team-c/target-c/dispatching.yml",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("body lacks %q:\n%s", line, body)
		}
	}
	// Section order.
	a, b, c := strings.Index(body, "## Source Workflow"), strings.Index(body, "## Dispatch Outcomes"), strings.Index(body, "## Authorization Denials")
	if !(a < b && b < c) {
		t.Errorf("sections out of order:\n%s", body)
	}
}

func TestFormatIssueEdges(t *testing.T) {
	_, body := pipeline.FormatIssue(pipeline.IssueSource{Workflow: "ci.yml", WorkflowPath: "ci.yml"}, []pipeline.Outcome{
		{Index: 0, Repository: "o/r", Workflow: "w.yml", Status: pipeline.OutcomeDenied, Reason: "duplicate_target"},
	})
	if !strings.Contains(body, "No dispatch was attempted") || strings.Contains(body, "Run ID") || strings.Contains(body, "Run URL") {
		t.Errorf("body:\n%s", body)
	}
	_, body = pipeline.FormatIssue(pipeline.IssueSource{Workflow: "ci.yml"}, []pipeline.Outcome{
		{Index: 0, Repository: "o/r", Workflow: "w.yml", Status: pipeline.OutcomeFailed, Error: "line one\n## injected heading\n" + strings.Repeat("x", 1000)},
	})
	if strings.Contains(body, "\n## injected") {
		t.Error("a multi-line error broke the list")
	}
	if !strings.Contains(body, "- None") {
		t.Error("empty denial section not marked")
	}
	if len(body) > 1000 {
		t.Errorf("a long error was not shortened (%d bytes)", len(body))
	}
	many := make([]pipeline.Outcome, 500)
	for i := range many {
		many[i] = pipeline.Outcome{Index: i, Repository: "o/r", Workflow: "w.yml", Status: pipeline.OutcomeDenied, Reason: "duplicate_target", Detail: strings.Repeat("d", 400)}
	}
	if _, body := pipeline.FormatIssue(pipeline.IssueSource{Workflow: "ci.yml"}, many); len(body) > 65536 || !strings.Contains(body, "more not shown") {
		t.Errorf("500 denials: body of %d bytes", len(body))
	}
}

// issueWorld: api ci.yml → deploy (authorised, dispatch fails with 422),
// docs (authorised, succeeds), web (denied).
func issueWorld(t *testing.T) *world {
	w := newWorld(t, withIssues)
	w.gh.ConfigResults["acme/api"] = config(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets:
      - {repository: deploy, workflow: cd.yml}
      - {repository: docs, workflow: publish.yml}
      - {repository: web, workflow: cd.yml, inputs: {sha: "{{ source.sha }}"}}
`)
	w.gh.ConfigResults["acme/deploy"] = config(t, "acme/deploy", `
inbound:
  - source: {repository: acme/api, workflow: ci.yml}
    targets: [{workflow: cd.yml}]
`)
	w.gh.ConfigResults["acme/docs"] = config(t, "acme/docs", `
inbound:
  - source: {repository: api, workflow: ci.yml}
    targets: [{workflow: publish.yml}]
`)
	w.gh.DispatchFunc = func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
		if req.Repository == "acme/deploy" {
			return pipeline.DispatchResult{}, &pipelinetest.DispatchError{Status: 422, Message: "Workflow does not have 'workflow_dispatch' trigger", Tries: 1, IsPermanent: true, NotSent: true}
		}
		return pipeline.DispatchResult{Attempts: 2, RunID: 99, HTMLURL: "https://github.test/run/99"}, nil
	}
	return w
}

func TestResultIssueExactlyOnce(t *testing.T) {
	w := issueWorld(t)
	msg := request(t, "d-1", payload(t, apiRun, nil))
	for i := 1; i <= 2; i++ {
		if err := w.planner.HandleRequest(t.Context(), msg, recv(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.issues.Created()); n != 0 {
		t.Fatalf("issue created before the dispatches finished (%d)", n)
	}
	items := workItems(t, w.targets)
	if len(items) != 4 || items[0].Report == nil || items[0].Report.Targets != 3 {
		t.Fatalf("work items = %+v, want 2 targets × 2 plans with a report of 3 targets", items)
	}
	// Every copy of every work item, twice over.
	for round := 0; round < 2; round++ {
		w.drainTargets(t)
	}
	issues := w.issues.Created()
	if len(issues) != 1 {
		t.Fatalf("issues = %d, want exactly 1", len(issues))
	}
	is := issues[0]
	if is.Repository != "acme/api" || is.InstallationID != 7 {
		t.Errorf("issue in %s via installation %d", is.Repository, is.InstallationID)
	}
	if is.Title != "Dispatch results: ci.yml (success=1, failed=1, denied=1)" {
		t.Errorf("title = %q", is.Title)
	}
	for _, s := range []string{
		"SUCCESS acme/docs :: publish.yml (attempts=2), run https://github.test/run/99",
		"FAILED acme/deploy :: cd.yml (attempts=1): dispatch: HTTP 422: Workflow does not have 'workflow_dispatch' trigger",
		"DENIED acme/web :: cd.yml (inputs_not_accepted): inbound rule 1 in acme/web/dispatching.yml",
		"Run ID: 42", "- Path: .github/workflows/ci.yml", "- Delivery: d-1",
	} {
		if !strings.Contains(is.Body, s) {
			t.Errorf("body lacks %q:\n%s", s, is.Body)
		}
	}
	// docs is dispatched once; deploy fails permanently and releases its
	// claim, so each of its 4 deliveries asks GitHub again (and fails).
	if n := len(w.gh.Dispatches()); n != 1+4 {
		t.Errorf("dispatch calls = %d, want 5", n)
	}
	if n := w.facts.Count(facts.TypeTriggerSucceeded); n != 1 {
		t.Errorf("succeeded facts = %d", n)
	}
	for _, l := range w.logs.Lines(t) {
		if l["correlation_id"] != "d-1" {
			t.Errorf("log line without the delivery's correlation id: %v", l)
		}
	}
}

func TestResultIssueNotOnAllSuccess(t *testing.T) {
	w := issueWorld(t)
	w.gh.DispatchFunc = nil // everything succeeds
	w.gh.ConfigResults["acme/api"] = config(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets:
      - {repository: deploy, workflow: cd.yml}
      - {repository: docs, workflow: publish.yml}
`)
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, apiRun, nil)), first); err != nil {
		t.Fatal(err)
	}
	if items := workItems(t, w.targets); len(items) != 2 || items[0].Report == nil || items[1].Report.Index != 1 {
		t.Fatalf("items = %+v, want 2 with a report (a failure may still come)", items)
	}
	w.drainTargets(t)
	if n := len(w.issues.Created()); n != 0 {
		t.Fatalf("issues = %d on an all-success run", n)
	}
}

// Only failures, no denials: the dispatchers still write the issue.
func TestResultIssueOnFailureWithoutDenials(t *testing.T) {
	w := issueWorld(t)
	w.gh.ConfigResults["acme/api"] = config(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets:
      - {repository: deploy, workflow: cd.yml}
      - {repository: docs, workflow: publish.yml}
`)
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, apiRun, nil)), first); err != nil {
		t.Fatal(err)
	}
	w.drainTargets(t)
	issues := w.issues.Created()
	if len(issues) != 1 || !strings.Contains(issues[0].Title, "success=1, failed=1, denied=0") {
		t.Fatalf("issues = %+v", issues)
	}
}

func TestResultIssueAllDenied(t *testing.T) {
	w := issueWorld(t)
	w.gh.ConfigResults["acme/api"] = config(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets:
      - {repository: web, workflow: cd.yml, inputs: {a: b}}
      - {repository: nowhere, workflow: x.yml}
`)
	msg := request(t, "d-9", payload(t, apiRun, nil))
	for i := 1; i <= 3; i++ {
		if err := w.planner.HandleRequest(t.Context(), msg, recv(i)); err != nil {
			t.Fatal(err)
		}
	}
	issues := w.issues.Created()
	if len(issues) != 1 {
		t.Fatalf("issues = %d, want 1", len(issues))
	}
	if !strings.Contains(issues[0].Title, "success=0, failed=0, denied=2") || !strings.Contains(issues[0].Body, "No dispatch was attempted") {
		t.Errorf("issue = %+v", issues[0])
	}
}

func TestResultIssueNotForIneligibleSourceOrWhenOff(t *testing.T) {
	w := issueWorld(t)
	feature := apiRun
	feature.branch = "feature"
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, feature, nil)), first); err != nil {
		t.Fatal(err)
	}
	off := newWorld(t) // CREATE_ISSUES off
	off.gh.ConfigResults = w.gh.ConfigResults
	off.gh.DispatchFunc = w.gh.DispatchFunc
	if err := off.planner.HandleRequest(t.Context(), request(t, "d-2", payload(t, apiRun, nil)), first); err != nil {
		t.Fatal(err)
	}
	off.drainTargets(t)
	if len(w.issues.Created())+len(off.issues.Created()) != 0 {
		t.Fatal("issue created for an ineligible source or with CREATE_ISSUES off")
	}
}

func TestResultIssueFailureIsNotFatal(t *testing.T) {
	w := issueWorld(t)
	w.issues.Err = pipelinetest.ErrInjected
	w.gh.ConfigResults["acme/api"] = config(t, "acme/api", `
outbound:
  - source: {workflow: ci.yml}
    targets: [{repository: web, workflow: cd.yml, inputs: {a: b}}]
`)
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, apiRun, nil)), first); err != nil {
		t.Fatalf("a failed issue failed the plan: %v", err)
	}
	if !strings.Contains(w.logs.String(), "create result issue failed") {
		t.Error("the failure was not logged")
	}
	if _, held := w.claims.Get(pipeline.IssueClaimKey("d-1")); held {
		t.Error("the issue claim was kept after a failure")
	}
}
