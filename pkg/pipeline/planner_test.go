package pipeline_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

var first = pipeline.Delivery{ReceiveCount: 1, MaxReceives: 5}

func TestPlannerPlansQueuesAndRecords(t *testing.T) {
	w := newWorld(t)
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, apiRun, nil)), first); err != nil {
		t.Fatal(err)
	}
	items := workItems(t, w.targets)
	if len(items) != 1 {
		t.Fatalf("work items = %d, want 1 (only acme/deploy is authorised)", len(items))
	}
	it := items[0]
	if it.DeliveryID != "d-1" || it.InstallationID != 7 || it.Target.Repository != "acme/deploy" || it.Target.Workflow != "cd.yml" {
		t.Errorf("work item = %+v", it)
	}
	if it.Target.Ref != "main" || it.Target.Inputs["sha"] != "abc123def456abc123def456abc123def456abc1" {
		t.Errorf("work item lacks the resolved ref or inputs: ref %q inputs %v", it.Target.Ref, it.Target.Inputs)
	}
	if want := []plan.ChainLink{{Repository: "acme/api", Workflow: "ci.yml"}}; !reflect.DeepEqual(it.Chain, want) {
		t.Errorf("chain = %v, want %v", it.Chain, want)
	}
	if it.Report != nil {
		t.Error("a report was attached although result issues are off")
	}
	if got := w.targets.Pending()[0].DedupID; got != it.Key() || got != "acme/api#42#1#acme/deploy#cd.yml" {
		t.Errorf("dedup id = %q, want the work item key", got)
	}

	created := w.facts.OfType(facts.TypePlanCreated)
	if len(created) != 1 {
		t.Fatalf("plan.created facts = %d", len(created))
	}
	d := created[0].Data
	if !*d.Eligible || *d.Candidates != 3 || *d.Allowed != 1 || *d.Denied != 2 {
		t.Errorf("plan counts = eligible %v candidates %d allowed %d denied %d", *d.Eligible, *d.Candidates, *d.Allowed, *d.Denied)
	}
	denied := w.facts.OfType(facts.TypeTargetDenied)
	reasons := map[string]string{}
	for _, e := range denied {
		reasons[e.Data.TargetRepo] = e.Data.Reason
		if e.Data.Detail == "" {
			t.Errorf("denial of %s has no detail", e.Data.TargetRepo)
		}
	}
	want := map[string]string{"acme/web": plan.ReasonInputsNotAccepted, "acme/billing": plan.ReasonMissingTargetConfig}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("denials = %v, want %v", reasons, want)
	}
	if q := w.facts.OfType(facts.TypeTargetQueued); len(q) != 1 || q[0].Data.TargetRepo != "acme/deploy" || q[0].Data.Ref != "main" {
		t.Errorf("queued facts = %+v", q)
	}
	if n := w.facts.Count(facts.TypeRequestAccepted); n != 1 {
		t.Errorf("request.accepted facts = %d, want 1 (re-published by the planner)", n)
	}
	for _, e := range w.facts.All() {
		if e.Data.SourceWorkflow != "ci.yml" || e.Data.DeliveryID != "d-1" || e.Data.SourceRunID != 42 {
			t.Errorf("fact %s data = %+v", e.Type, e.Data)
		}
	}
}

func TestPlannerIneligibleSource(t *testing.T) {
	w := newWorld(t)
	feature := apiRun
	feature.branch = "feature"
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-f", payload(t, feature, nil)), first); err != nil {
		t.Fatal(err)
	}
	if len(w.targets.Pending()) != 0 {
		t.Fatal("work queued for an ineligible source")
	}
	c := w.facts.OfType(facts.TypePlanCreated)
	if len(c) != 1 || *c[0].Data.Eligible || c[0].Data.Reason != plan.ReasonSourceNotDefaultBranch || *c[0].Data.Candidates != 0 {
		t.Fatalf("plan.created = %+v", c)
	}
}

// Redelivering the same request re-enqueues with the same dedup ids and
// re-publishes facts with the same ids: nothing counts twice, and the
// dispatcher dispatches each target once.
func TestPlannerIdempotentUnderRedelivery(t *testing.T) {
	w := newWorld(t)
	msg := request(t, "d-1", payload(t, apiRun, nil))
	if err := w.planner.HandleRequest(t.Context(), msg, first); err != nil {
		t.Fatal(err)
	}
	once := w.facts.Unique()
	for i := 2; i <= 3; i++ {
		if err := w.planner.HandleRequest(t.Context(), msg, pipeline.Delivery{ReceiveCount: i, MaxReceives: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.facts.Unique(); len(got) != len(once) {
		t.Fatalf("unique facts after 3 plans = %d, after 1 = %d", len(got), len(once))
	}
	if len(w.facts.All()) <= len(once) {
		t.Fatal("the redeliveries published nothing (the test proves nothing)")
	}
	pending := w.targets.Pending()
	if len(pending) != 3 {
		t.Fatalf("pending work items = %d, want 3 (a standard queue keeps copies)", len(pending))
	}
	for _, p := range pending {
		if p.DedupID != pending[0].DedupID {
			t.Fatal("redeliveries used different dedup ids")
		}
	}
	if errs := w.drainTargets(t); len(errs) != 0 {
		t.Fatal(errs)
	}
	if n := len(w.gh.Dispatches()); n != 1 {
		t.Fatalf("dispatches = %d, want 1", n)
	}
	if n := w.facts.Count(facts.TypeTriggerSucceeded); n != 1 {
		t.Fatalf("succeeded facts = %d, want 1", n)
	}
}

func TestPlannerPermanentErrors(t *testing.T) {
	w := newWorld(t)
	for name, body := range map[string][]byte{
		"not json":             []byte("{"),
		"no delivery id":       request(t, "", payload(t, apiRun, nil)),
		"payload not an event": request(t, "d", []byte(`{"zen":"hi"}`)),
		"no installation":      request(t, "d", payload(t, apiRun, func(m map[string]any) { delete(m, "installation") })),
	} {
		err := w.planner.HandleRequest(t.Context(), body, first)
		if err == nil || !pipeline.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent error", name, err)
		}
	}
	if len(w.facts.All()) != 0 || len(w.targets.Pending()) != 0 {
		t.Error("a bad message produced facts or work")
	}
}

func TestPlannerTransientErrorsThenRetry(t *testing.T) {
	msg := request(t, "d-1", payload(t, apiRun, nil))
	cases := map[string]func(w *world){
		"lineage": func(w *world) { w.lineage.ChainErr = pipelinetest.ErrInjected },
		"enqueue": func(w *world) {
			w.targets.EnqueueErr = func(string, []byte) error { return pipelinetest.ErrInjected }
		},
		"publish plan facts": func(w *world) {
			w.facts.Err = func([]facts.Event) error { return pipelinetest.ErrInjected }
		},
		"publish facts with queued": func(w *world) {
			w.facts.Err = func(evs []facts.Event) error {
				for _, e := range evs {
					if e.Type == facts.TypeTargetQueued {
						return pipelinetest.ErrInjected
					}
				}
				return nil
			}
		},
	}
	for name, inject := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			inject(w)
			err := w.planner.HandleRequest(t.Context(), msg, first)
			if err == nil || pipeline.IsPermanent(err) || !errors.Is(err, pipelinetest.ErrInjected) {
				t.Fatalf("err = %v, want a transient error wrapping the cause", err)
			}
			w.lineage.ChainErr, w.targets.EnqueueErr, w.facts.Err = nil, nil, nil
			if err := w.planner.HandleRequest(t.Context(), msg, pipeline.Delivery{ReceiveCount: 2, MaxReceives: 5}); err != nil {
				t.Fatal(err)
			}
			if n := w.facts.Count(facts.TypeTargetQueued); n != 1 {
				t.Errorf("queued facts after the retry = %d", n)
			}
			if n := w.facts.Count(facts.TypePlanCreated); n != 1 {
				t.Errorf("plan facts after the retry = %d", n)
			}
		})
	}
}

// A transient read failure (GitHub unavailable after the client's retries)
// of the source's or a target's dispatching.yml fails the step on every
// receive, the final one included, so the request is dead-lettered for
// replay-dlq instead of recorded as a decision; a permanent failure
// (unreadable: the App cannot see the repository) is a decision at once.
func TestPlannerTransientConfigReadsNeverDecide(t *testing.T) {
	msg := request(t, "d-1", payload(t, apiRun, nil))
	for _, repo := range []string{"acme/api", "acme/deploy", "acme/billing"} {
		t.Run(repo, func(t *testing.T) {
			w := newWorld(t)
			w.gh.ConfigResults[repo] = plan.ConfigResult{Status: plan.ConfigUnavailable, Problem: "GitHub answered 502"}
			for _, d := range []pipeline.Delivery{{ReceiveCount: 1, MaxReceives: 5}, {ReceiveCount: 5, MaxReceives: 5}} {
				err := w.planner.HandleRequest(t.Context(), msg, d)
				if err == nil || pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "502") {
					t.Fatalf("receive %d: err = %v, want a transient error with the cause", d.ReceiveCount, err)
				}
			}
			if len(w.facts.All()) != 0 || len(w.targets.Pending()) != 0 {
				t.Fatalf("a plan that will be retried recorded %d facts and %d work items", len(w.facts.All()), len(w.targets.Pending()))
			}
		})
	}
	t.Run("permanent", func(t *testing.T) {
		w := newWorld(t)
		w.gh.ConfigResults["acme/api"] = plan.ConfigResult{Status: plan.ConfigUnreadable, Problem: "the App cannot see acme/api"}
		if err := w.planner.HandleRequest(t.Context(), msg, first); err != nil {
			t.Fatalf("err = %v, want the plan recorded", err)
		}
		c := w.facts.OfType(facts.TypePlanCreated)
		if len(c) != 1 || c[0].Data.Reason != plan.ReasonSourceConfigUnreadable {
			t.Fatalf("plan.created = %+v", c)
		}
	})
}

// An ineligible source is decided without a single GitHub read.
func TestPlannerSourceGuardrailsBeforeGitHub(t *testing.T) {
	w := newWorld(t)
	r := apiRun
	r.branch = "feature"
	if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, r, nil)), first); err != nil {
		t.Fatal(err)
	}
	if n := w.gh.Lookups(); n != 0 {
		t.Errorf("%d config reads for a source that is not on its default branch", n)
	}
	if c := w.facts.OfType(facts.TypePlanCreated); len(c) != 1 || c[0].Data.Reason != plan.ReasonSourceNotDefaultBranch {
		t.Fatalf("plan.created = %+v", c)
	}
}

// The planner hands the stored lineage of the source run to the decision
// engine unchanged, and puts it (or the source alone) on the work items.
func TestPlannerPassesLineageToTheEngine(t *testing.T) {
	w := newWorld(t)
	stored := []plan.ChainLink{{Repository: "acme/a", Workflow: "x.yml"}, {Repository: "acme/api", Workflow: "ci.yml"}}
	if err := w.lineage.RecordRun(t.Context(), "acme/api", 42, stored); err != nil {
		t.Fatal(err)
	}
	var got plan.Input
	p, err := pipeline.NewPlanner(pipeline.PlannerConfig{
		Apply: w.apply, Lineage: w.lineage, GitHub: w.gh, Logger: w.logger,
		Build: func(ctx context.Context, in plan.Input) plan.Plan {
			got = in
			return plan.Plan{Eligible: true, Targets: []plan.Target{{Repository: "acme/z", Workflow: "z.yml", Ref: "main", Decision: plan.DecisionDispatch, Reason: plan.ReasonAuthorized}}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.HandleRequest(t.Context(), request(t, "d-1", payload(t, apiRun, nil)), first); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Chain, stored) {
		t.Errorf("Input.Chain = %v, want %v", got.Chain, stored)
	}
	if got.Source.Status != plan.ConfigFound || got.Targets == nil || got.Event.Run.ID != 42 {
		t.Errorf("Input = %+v", got)
	}
	items := workItems(t, w.targets)
	if len(items) != 1 || !reflect.DeepEqual(items[0].Chain, stored) {
		t.Fatalf("work item chain = %+v, want %v", items, stored)
	}
	// The source filled in when the engine left it empty.
	if items[0].Source.Repository != "acme/api" || items[0].Source.Workflow != "ci.yml" || items[0].Source.RunID != 42 {
		t.Errorf("work item source = %+v", items[0].Source)
	}
}

// End to end over the real engine: api ci.yml dispatches deploy cd.yml;
// when that run completes, deploy's rule back to api ci.yml is a cycle,
// and with DISPATCH_MAX_CHAIN_DEPTH=1 smoke is too deep.
func TestChainLineageDeniesCyclesAndDepth(t *testing.T) {
	for _, depth := range []int{5, 1} {
		pol := plan.DefaultPolicy()
		pol.MaxChainDepth = depth
		w := newWorld(t, withPolicy(pol))
		if err := w.planner.HandleRequest(t.Context(), request(t, "d-1", payload(t, apiRun, nil)), first); err != nil {
			t.Fatal(err)
		}
		if errs := w.drainTargets(t); len(errs) != 0 {
			t.Fatal(errs)
		}
		ds := w.gh.Dispatches()
		if len(ds) != 1 {
			t.Fatalf("dispatches = %d", len(ds))
		}
		runID := w.facts.OfType(facts.TypeTriggerSucceeded)[0].Data.TargetRunID
		chain, _ := w.lineage.ChainOf(t.Context(), "acme/deploy", runID)
		want := []plan.ChainLink{{Repository: "acme/api", Workflow: "ci.yml"}, {Repository: "acme/deploy", Workflow: "cd.yml"}}
		if !reflect.DeepEqual(chain, want) {
			t.Fatalf("lineage of deploy run %d = %v, want %v", runID, chain, want)
		}

		deployRun := run{owner: "acme", name: "deploy", path: ".github/workflows/cd.yml", id: runID, attempt: 1, branch: "main"}
		if err := w.planner.HandleRequest(t.Context(), request(t, "d-2", payload(t, deployRun, nil)), first); err != nil {
			t.Fatal(err)
		}
		reasons := map[string]string{}
		for _, e := range w.facts.OfType(facts.TypeTargetDenied) {
			if e.Data.DeliveryID == "d-2" {
				reasons[e.Data.TargetRepo] = e.Data.Reason
			}
		}
		if reasons["acme/api"] != plan.ReasonDispatchCycle {
			t.Errorf("depth %d: acme/api ci.yml: %q, want dispatch_cycle", depth, reasons["acme/api"])
		}
		var queued []pipeline.WorkItem
		for _, it := range workItems(t, w.targets) {
			if it.DeliveryID == "d-2" {
				queued = append(queued, it)
			}
		}
		if depth == 1 {
			if reasons["acme/smoke"] != plan.ReasonChainDepthExceeded || len(queued) != 0 {
				t.Errorf("depth 1: smoke %q, queued %d; want chain_depth_exceeded and nothing queued", reasons["acme/smoke"], len(queued))
			}
			continue
		}
		if len(queued) != 1 || queued[0].Target.Repository != "acme/smoke" || !reflect.DeepEqual(queued[0].Chain, want) {
			t.Fatalf("depth 5: queued %+v, want smoke with chain %v", queued, want)
		}
	}
}

func TestNewPlannerRequiresPorts(t *testing.T) {
	if _, err := pipeline.NewPlanner(pipeline.PlannerConfig{}); err == nil {
		t.Fatal("no error without ports")
	}
	_, err := pipeline.NewPlanner(pipeline.PlannerConfig{
		Apply: pipeline.PortApplier{}, Lineage: &pipelinetest.Lineage{}, GitHub: &pipelinetest.GitHub{},
		CreateIssues: true,
	})
	if err == nil {
		t.Fatal("result issues enabled without an issue creator: no error")
	}
}
