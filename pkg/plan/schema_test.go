package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/internal/npmfixture"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func planSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Plan))
	if err != nil {
		t.Fatalf("schemas/plan.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("plan.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("plan.schema.json")
	if err != nil {
		t.Fatalf("compile plan schema: %v", err)
	}
	return sch
}

func validateJSON(t *testing.T, sch *jsonschema.Schema, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// schemaScenarios are real Build outputs covering every part of the shape.
func schemaScenarios() map[string]Plan {
	plans := map[string]Plan{}
	ctx := context.Background()

	// A mix of dispatches and denials of many kinds, with inputs and refs.
	ev := event("acme", "api", ".github/workflows/ci.yml")
	withRef := tgt("deploy", "cd.yml", "sha", "{{ source.sha }}")
	withRef.Ref = "release"
	withRef.Pos = dispatching.Pos{Line: 4, Column: 7}
	rule := out("ci.yml", withRef,
		tgt("acme/web", "cd.yml"),
		tgt("docs", "build.yml", "v", "{{ source.nope }}"),
		tgt("deploy", "cd.yml"),
		tgt("api", "ci.yml"),
		tgt("gone", "x.yml"),
		tgt("bad", "x.yml"),
		tgt("down", "x.yml"),
		tgt("web", "other.yml", "env", "prod"),
		tgt("web", "nothing.yml"),
	)
	src := ConfigResult{Status: ConfigFound, Path: "acme/api/dispatching.yml", Config: &dispatching.Config{Outbound: []dispatching.OutboundRule{rule}}}
	inRule := in("acme/api", "ci.yml", accept("cd.yml", []string{"sha"}), accept("other.yml", nil))
	inRule.Pos = dispatching.Pos{Line: 2, Column: 3}
	lk := newLookup().
		with("acme/deploy", &dispatching.Config{Inbound: []dispatching.InboundRule{inRule}}).
		with("acme/web", &dispatching.Config{Inbound: []dispatching.InboundRule{inRule}}).
		withResult("acme/bad", ConfigResult{Status: ConfigInvalid, Problem: "1:1: not a mapping"}).
		withResult("acme/down", ConfigResult{Status: ConfigUnreadable, Problem: "503"})
	plans["mixed"] = Build(ctx, Input{Event: ev, Source: src, Targets: lk, Policy: permissive()})

	// Source denied by a guardrail.
	fork := ev
	fork.Run.HeadRepositoryFullName = "evil/api"
	plans["fork"] = Build(ctx, Input{Event: fork, Source: src, Targets: lk, Policy: DefaultPolicy()})

	// Source config missing, no matching rule, a null head branch.
	plans["missing"] = Build(ctx, Input{Event: ev, Source: ConfigResult{Status: ConfigMissing}, Policy: DefaultPolicy()})
	lint := event("acme", "api", "lint.yml")
	lint.Run.HeadBranch = nil
	pol := permissive()
	plans["no rule"] = Build(ctx, Input{Event: lint, Source: src, Targets: lk, Policy: pol})

	// Chain checks and the cap.
	capPol := permissive()
	capPol.MaxTargetsPerRun = 1
	plans["chain"] = Build(ctx, Input{Event: ev, Source: src, Targets: lk, Policy: capPol,
		Chain: []ChainLink{{Repository: "acme/web", Workflow: "cd.yml"}, {Repository: "acme/api", Workflow: "ci.yml"}}})
	return plans
}

func TestPlanSchemaAcceptsBuildOutputs(t *testing.T) {
	sch := planSchema(t)
	scenarios := schemaScenarios()
	seen := map[string]bool{}
	for name, p := range scenarios {
		if err := validateJSON(t, sch, p); err != nil {
			t.Errorf("%s: plan does not match schemas/plan.schema.json: %v", name, err)
		}
		seen[p.Reason] = true
		for _, tg := range p.Targets {
			seen[tg.Reason] = true
		}
	}
	// The scenarios must really cover the shape, or the test proves little.
	for _, r := range []string{"", ReasonSourceFromFork, ReasonSourceConfigMissing, ReasonNoMatchingRule, ReasonAuthorized,
		ReasonInputsTemplateError, ReasonDuplicateTarget, ReasonSelfDispatchBlocked, ReasonMissingTargetConfig,
		ReasonInvalidTargetConfig, ReasonTargetConfigUnreadable, ReasonDispatchCycle, ReasonMaxTargetsExceeded, ReasonInboundNotAuthorized, ReasonInputsNotAccepted} {
		if !seen[r] {
			t.Errorf("no scenario produced reason %q", r)
		}
	}

	// The --follow shape, built from real plans.
	follow := map[string]any{
		"root":      scenarios["mixed"],
		"steps":     []Plan{scenarios["chain"], scenarios["no rule"]},
		"cycles":    [][]string{{"acme/api:ci.yml", "acme/deploy:cd.yml", "acme/api:ci.yml"}},
		"max_depth": 2,
	}
	if err := validateJSON(t, sch, follow); err != nil {
		t.Errorf("follow shape does not match the schema: %v", err)
	}
}

// The schema is not vacuous: it rejects plans that break the contract.
func TestPlanSchemaRejects(t *testing.T) {
	sch := planSchema(t)
	good := schemaScenarios()["mixed"]
	tests := map[string]func(m map[string]any){
		"null targets":           func(m map[string]any) { m["targets"] = nil },
		"unknown source reason":  func(m map[string]any) { m["eligible"] = false; m["reason"] = "nope"; m["targets"] = []any{} },
		"ineligible, no reason":  func(m map[string]any) { m["eligible"] = false; m["reason"] = ""; m["targets"] = []any{} },
		"ineligible, targets":    func(m map[string]any) { m["eligible"] = false; m["reason"] = "source_from_fork" },
		"eligible with a reason": func(m map[string]any) { m["reason"] = "source_from_fork" },
		"extra property":         func(m map[string]any) { m["extra"] = 1 },
		"missing source":         func(m map[string]any) { delete(m, "source") },
		"dispatch, not authorized": func(m map[string]any) {
			m["targets"].([]any)[0].(map[string]any)["reason"] = "inbound_not_authorized"
		},
		"deny, authorized": func(m map[string]any) {
			m["targets"].([]any)[0].(map[string]any)["decision"] = "deny"
		},
		"unknown target reason": func(m map[string]any) {
			m["targets"].([]any)[1].(map[string]any)["reason"] = "nope"
		},
		"non-string input": func(m map[string]any) {
			m["targets"].([]any)[0].(map[string]any)["inputs"] = map[string]any{"sha": 1}
		},
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(good)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if m["targets"].([]any)[0].(map[string]any)["decision"] != "dispatch" {
				t.Fatal("scenario changed: first target is not a dispatch")
			}
			edit(m)
			if err := validateJSON(t, sch, m); err == nil {
				t.Error("schema accepted it")
			}
		})
	}
}

// Real workflow_run payloads from @octokit/webhooks-examples (installed by
// `make test` under .ci/node_modules) parse, and their plans match the schema.
func TestRealWebhookPayloads(t *testing.T) {
	examples := npmfixture.WorkflowRunExamples(t)
	sch := planSchema(t)
	n := 0
	{
		for i, raw := range examples {
			n++
			ev, err := ParseEvent(raw)
			if err != nil {
				t.Errorf("example %d: %v", i, err)
				continue
			}
			var want struct {
				Repository struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
				WorkflowRun struct {
					ID         int64   `json:"id"`
					HeadBranch *string `json:"head_branch"`
					HeadSHA    string  `json:"head_sha"`
					Path       string  `json:"path"`
				} `json:"workflow_run"`
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if ev.Repository.FullName() != want.Repository.FullName || ev.Run.ID != want.WorkflowRun.ID ||
				ev.Run.HeadSHA != want.WorkflowRun.HeadSHA || ev.Run.Path != want.WorkflowRun.Path ||
				(ev.Run.HeadBranch == nil) != (want.WorkflowRun.HeadBranch == nil) {
				t.Errorf("example %d: parsed %+v from %+v", i, ev, want)
			}
			wf := dispatching.WorkflowBase(ev.Run.Path)
			if wf == "" {
				wf = "ci.yml"
			}
			src := found(ev.Repository.FullName(), &dispatching.Config{Outbound: []dispatching.OutboundRule{out(wf, tgt("deploy", "cd.yml", "sha", "{{ source.sha }}"))}})
			pol := permissive()
			p := Build(context.Background(), Input{Event: ev, Source: src, Targets: newLookup(), Policy: pol})
			if err := validateJSON(t, sch, p); err != nil {
				t.Errorf("example %d: plan does not match the schema: %v", i, err)
			}
			if strings.TrimSpace(p.Detail) == "" {
				t.Errorf("example %d: plan without detail", i)
			}
		}
	}
	if n == 0 {
		t.Fatal("no workflow_run examples found")
	}
}
