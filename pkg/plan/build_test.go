package plan

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// guardPolicy is the base policy of the original's guardrail tests:
// enforcement on, cap 2, allowlists empty, conclusions "success".
func guardPolicy() Policy {
	return Policy{
		EnforceSourceDefaultBranch: true,
		AllowedSourceConclusions:   ParseAllowlist("success"),
		MaxTargetsPerRun:           2,
		DefaultDispatchRef:         "main",
		MaxChainDepth:              5,
	}
}

// sourceOK is a source config of org/repo with one ci.yml rule, so an
// eligible source gives an eligible plan.
func sourceOK() ConfigResult {
	return found("org/repo", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml", tgt("target", "deploy.yml"))}})
}

// The source guardrail cases of the original, in our own words, and more.
func TestBuildSourceGuardrails(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(ev *Event, p *Policy)
		reason string // "" = eligible
	}{
		{"feature branch", func(ev *Event, p *Policy) { ev.Run.HeadBranch = strp("feature") }, ReasonSourceNotDefaultBranch},
		{"fork", func(ev *Event, p *Policy) { ev.Run.HeadRepositoryFullName = "attacker/repo" }, ReasonSourceFromFork},
		{"failure checked before the fork check", func(ev *Event, p *Policy) {
			ev.Run.Conclusion = "failure"
			ev.Run.HeadRepositoryFullName = ""
		}, ReasonSourceConclusionNotAllowed},
		{"cancelled", func(ev *Event, p *Policy) { ev.Run.Conclusion = "cancelled" }, ReasonSourceConclusionNotAllowed},
		{"skipped allowed when listed", func(ev *Event, p *Policy) {
			ev.Run.Conclusion = "skipped"
			p.AllowedSourceConclusions = ParseAllowlist("success,skipped")
		}, ""},
		{"empty conclusion list allows failure", func(ev *Event, p *Policy) {
			ev.Run.Conclusion = "failure"
			p.AllowedSourceConclusions = ParseAllowlist("")
		}, ""},
		{"empty conclusion list allows a null conclusion", func(ev *Event, p *Policy) {
			ev.Run.Conclusion = ""
			p.AllowedSourceConclusions = ParseAllowlist("")
		}, ""},
		{"null conclusion denied by default", func(ev *Event, p *Policy) { ev.Run.Conclusion = "" }, ReasonSourceConclusionNotAllowed},
		{"star allows a null conclusion", func(ev *Event, p *Policy) {
			ev.Run.Conclusion = ""
			p.AllowedSourceConclusions = ParseAllowlist("*")
		}, ""},
		{"conclusion compared lower-cased", func(ev *Event, p *Policy) { ev.Run.Conclusion = "SUCCESS" }, ""},
		{"head repository absent", func(ev *Event, p *Policy) { ev.Run.HeadRepositoryFullName = "" }, ReasonSourceHeadRepositoryUnverifiable},
		{"head repository matches", func(ev *Event, p *Policy) {}, ""},
		{"head repository compared lower-cased", func(ev *Event, p *Policy) { ev.Run.HeadRepositoryFullName = "ORG/Repo" }, ""},
		{"enforcement off still needs a head repository", func(ev *Event, p *Policy) {
			p.EnforceSourceDefaultBranch = false
			ev.Run.HeadBranch = strp("feature-branch")
			ev.Run.HeadRepositoryFullName = ""
		}, ReasonSourceHeadRepositoryUnverifiable},
		{"enforcement off allows any branch", func(ev *Event, p *Policy) {
			p.EnforceSourceDefaultBranch = false
			ev.Run.HeadBranch = strp("feature-branch")
		}, ""},
		{"null head branch", func(ev *Event, p *Policy) { ev.Run.HeadBranch = nil }, ReasonSourceNotDefaultBranch},
		{"empty head branch", func(ev *Event, p *Policy) { ev.Run.HeadBranch = strp("") }, ReasonSourceNotDefaultBranch},
		{"default branch unknown", func(ev *Event, p *Policy) { ev.Repository.DefaultBranch = "" }, ReasonSourceNotDefaultBranch},
		{"branch compared case-sensitively", func(ev *Event, p *Policy) { ev.Run.HeadBranch = strp("Main") }, ReasonSourceNotDefaultBranch},
		{"branch checked before conclusion", func(ev *Event, p *Policy) {
			ev.Run.HeadBranch = strp("x")
			ev.Run.Conclusion = "failure"
		}, ReasonSourceNotDefaultBranch},
		{"source repo allowlist", func(ev *Event, p *Policy) { p.SourceRepoAllowlist = ParseAllowlist("other/*") }, ReasonSourceRepoNotAllowlisted},
		{"source repo allowlist checked before the fork check", func(ev *Event, p *Policy) {
			p.SourceRepoAllowlist = ParseAllowlist("my-org/*")
			ev.Run.HeadRepositoryFullName = ""
		}, ReasonSourceRepoNotAllowlisted},
		{"source repo allowlist, lower-cased", func(ev *Event, p *Policy) {
			p.SourceRepoAllowlist = ParseAllowlist("ORG/*")
			ev.Repository.Owner = "Org"
		}, ""},
		{"source workflow allowlist", func(ev *Event, p *Policy) { p.SourceWorkflowAllowlist = ParseAllowlist("deploy*") }, ReasonSourceWorkflowNotAllowlisted},
		{"source workflow allowlist on the base name", func(ev *Event, p *Policy) { p.SourceWorkflowAllowlist = ParseAllowlist("CI.*") }, ""},
		{"repo allowlist before workflow allowlist", func(ev *Event, p *Policy) {
			p.SourceRepoAllowlist = ParseAllowlist("x/y")
			p.SourceWorkflowAllowlist = ParseAllowlist("x")
		}, ReasonSourceRepoNotAllowlisted},
		{"workflow allowlist before head repository", func(ev *Event, p *Policy) {
			p.SourceWorkflowAllowlist = ParseAllowlist("x")
			ev.Run.HeadRepositoryFullName = ""
		}, ReasonSourceWorkflowNotAllowlisted},
		{"conclusion before repo allowlist", func(ev *Event, p *Policy) {
			p.SourceRepoAllowlist = ParseAllowlist("x/y")
			ev.Run.Conclusion = "failure"
		}, ReasonSourceConclusionNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := event("org", "repo", ".github/workflows/ci.yml")
			pol := guardPolicy()
			tt.edit(&ev, &pol)
			p := Build(context.Background(), Input{Event: ev, Source: sourceOK(), Targets: newLookup(), Policy: pol})
			if p.Reason != tt.reason && !(tt.reason == "" && p.Eligible) {
				t.Fatalf("reason = %q (%s), want %q", p.Reason, p.Detail, tt.reason)
			}
			if (tt.reason == "") != p.Eligible {
				t.Errorf("eligible = %v", p.Eligible)
			}
			if tt.reason != "" {
				if p.Detail == "" {
					t.Error("no detail")
				}
				if p.Targets == nil || len(p.Targets) != 0 {
					t.Errorf("targets = %#v, want an empty non-nil slice", p.Targets)
				}
			}
		})
	}
}

// Source guardrails wildcard case of the original: allowlist my-org/*.
func TestBuildSourceRepoAllowlist(t *testing.T) {
	pol := guardPolicy()
	pol.SourceRepoAllowlist = ParseAllowlist("my-org/*")
	ev := event("my-org", "repo-a", "ci.yml")
	cfg := found("my-org/repo-a", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml", tgt("t", "d.yml"))}})
	if p := Build(context.Background(), Input{Event: ev, Source: cfg, Targets: newLookup(), Policy: pol}); !p.Eligible {
		t.Errorf("my-org/repo-a: %s %s", p.Reason, p.Detail)
	}
	ev = event("other-org", "repo-b", "ci.yml")
	ev.Run.HeadRepositoryFullName = ""
	if p := Build(context.Background(), Input{Event: ev, Source: cfg, Targets: newLookup(), Policy: pol}); p.Reason != ReasonSourceRepoNotAllowlisted {
		t.Errorf("other-org/repo-b: %s", p.Reason)
	}
}

func TestBuildSourceConfig(t *testing.T) {
	ev := event("acme", "api", ".github/workflows/ci.yml")
	tests := []struct {
		name       string
		src        ConfigResult
		reason     string
		detailHas  string
		eligible   bool
		candidates int
	}{
		{"missing", ConfigResult{Status: ConfigMissing}, ReasonSourceConfigMissing, "acme/api has no dispatching.yml", false, 0},
		{"invalid", ConfigResult{Status: ConfigInvalid, Path: "acme/api/dispatching.yml", Problem: "2:3: unknown key \"x\""}, ReasonSourceConfigInvalid,
			`acme/api/dispatching.yml is invalid: 2:3: unknown key "x"`, false, 0},
		{"unreadable", ConfigResult{Status: ConfigUnreadable, Path: "acme/api/dispatching.yml", Problem: "403 forbidden"}, ReasonSourceConfigUnreadable, "403 forbidden", false, 0},
		{"zero result", ConfigResult{}, ReasonSourceConfigUnreadable, "acme/api/dispatching.yml", false, 0},
		{"found without config", ConfigResult{Status: ConfigFound}, ReasonSourceConfigUnreadable, "gave no config", false, 0},
		{"no rule for the workflow", found("acme/api", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("lint.yml", tgt("x", "y.yml"))}}),
			ReasonNoMatchingRule, "no outbound rule in acme/api/dispatching.yml has source workflow ci.yml", false, 0},
		{"empty config", found("acme/api", &dispatching.Config{}), ReasonNoMatchingRule, "(0 outbound rules)", false, 0},
		{"a rule matches", found("acme/api", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("lint.yml", tgt("x", "y.yml")), out("ci.yml", tgt("x", "y.yml"), tgt("z", "y.yml"))}}),
			"", "outbound rule 2 in acme/api/dispatching.yml matches source workflow ci.yml: 2 candidates, 0 to dispatch", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Build(context.Background(), Input{Event: ev, Source: tt.src, Targets: newLookup(), Policy: permissive()})
			if p.Reason != tt.reason || p.Eligible != tt.eligible || len(p.Targets) != tt.candidates {
				t.Fatalf("got eligible=%v reason=%q targets=%d (%s)", p.Eligible, p.Reason, len(p.Targets), p.Detail)
			}
			if !strings.Contains(p.Detail, tt.detailHas) {
				t.Errorf("detail %q lacks %q", p.Detail, tt.detailHas)
			}
		})
	}
}

func TestBuildNoWorkflowPath(t *testing.T) {
	ev := event("acme", "api", "")
	p := Build(context.Background(), Input{Event: ev, Source: sourceOK(), Targets: newLookup(), Policy: permissive()})
	if p.Reason != ReasonNoMatchingRule || !strings.Contains(p.Detail, "workflow_run.path") {
		t.Errorf("got %q %q", p.Reason, p.Detail)
	}
}

// allowAll is an inbound config that lets org/source ci.yml dispatch the
// given workflows with the given inputs.
func allowAll(source string, keys []string, workflows ...string) *dispatching.Config {
	var targets []dispatching.InboundTarget
	for _, w := range workflows {
		targets = append(targets, accept(w, keys))
	}
	return &dispatching.Config{Inbound: []dispatching.InboundRule{in(source, "ci.yml", targets...)}}
}

// The target guardrail cases of the original, in our own words.
func TestBuildTargetGuardrails(t *testing.T) {
	ev := event("org", "source", ".github/workflows/ci.yml")
	t.Run("self, duplicate and cap in candidate order", func(t *testing.T) {
		src := found("org/source", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml",
			tgt("org/source", "ci.yml"),
			tgt("org/target-a", "deploy.yml"),
			tgt("org/target-a", "deploy.yml"),
			tgt("org/target-b", "deploy.yml"),
			tgt("org/target-c", "deploy.yml"),
		)}})
		lk := newLookup()
		for _, r := range []string{"org/target-a", "org/target-b", "org/target-c"} {
			lk.with(r, allowAll("org/source", nil, "deploy.yml"))
		}
		p := Build(context.Background(), Input{Event: ev, Source: src, Targets: lk, Policy: guardPolicy()})
		want := []string{ReasonSelfDispatchBlocked, ReasonAuthorized, ReasonDuplicateTarget, ReasonAuthorized, ReasonMaxTargetsExceeded}
		if got := reasons(p); !slices.Equal(got, want) {
			t.Fatalf("reasons = %q, want %q", got, want)
		}
		var allowed []string
		for _, d := range p.Dispatches() {
			allowed = append(allowed, d.Repository)
		}
		if !slices.Equal(allowed, []string{"org/target-a", "org/target-b"}) {
			t.Errorf("dispatches = %q", allowed)
		}
		if lk.calls["org/target-c"] != 0 {
			t.Error("the config of a target denied by the guardrails was read")
		}
	})
	t.Run("target allowlist", func(t *testing.T) {
		pol := guardPolicy()
		pol.TargetRepoAllowlist = ParseAllowlist("org/target-b")
		src := found("org/source", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml", tgt("org/target-a", "deploy.yml"))}})
		p := Build(context.Background(), Input{Event: ev, Source: src, Targets: newLookup(), Policy: pol})
		if got := reasons(p); !slices.Equal(got, []string{ReasonTargetRepoNotAllowlisted}) {
			t.Errorf("reasons = %q", got)
		}
	})
	t.Run("target allowlist wildcard", func(t *testing.T) {
		pol := guardPolicy()
		pol.TargetRepoAllowlist = ParseAllowlist("org/*")
		pol.MaxTargetsPerRun = 10
		src := found("org/source", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml",
			tgt("org/target-a", "deploy.yml"), tgt("other-org/target-b", "deploy.yml"))}})
		lk := newLookup().with("org/target-a", allowAll("org/source", nil, "deploy.yml"))
		p := Build(context.Background(), Input{Event: ev, Source: src, Targets: lk, Policy: pol})
		if got := reasons(p); !slices.Equal(got, []string{ReasonAuthorized, ReasonTargetRepoNotAllowlisted}) {
			t.Errorf("reasons = %q", got)
		}
	})
}

// buildOne runs Build for source org/source ci.yml with the given outbound
// targets and lookup.
func buildOne(pol Policy, lk ConfigLookup, chain []ChainLink, targets ...dispatching.OutboundTarget) Plan {
	ev := event("org", "source", ".github/workflows/ci.yml")
	src := found("org/source", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml", targets...)}})
	return Build(context.Background(), Input{Event: ev, Source: src, Targets: lk, Policy: pol, Chain: chain})
}

func TestBuildTargetOrder(t *testing.T) {
	okA := allowAll("org/source", []string{"k"}, "a.yml", "b.yml", "deploy.yml")
	lk := func() *fakeLookup {
		return newLookup().with("org/a", okA).with("org/b", okA).with("org/c", okA)
	}
	capped := func(n int) Policy { p := permissive(); p.MaxTargetsPerRun = n; return p }
	many := func(n int) []string {
		var kv []string
		for i := range n {
			kv = append(kv, "k"+strings.Repeat("x", i), "v")
		}
		return kv
	}
	tests := []struct {
		name    string
		pol     Policy
		lk      ConfigLookup
		chain   []ChainLink
		targets []dispatching.OutboundTarget
		want    []string
	}{
		{"template errors take no slot", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", "k", "{{ nope }}"), tgt("b", "b.yml")},
			[]string{ReasonInputsTemplateError, ReasonAuthorized}},
		{"template errors do not enter the duplicate set", capped(5), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", "k", "{{ nope }}"), tgt("a", "a.yml")},
			[]string{ReasonInputsTemplateError, ReasonAuthorized}},
		{"cap denials do not enter the duplicate set", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("b", "b.yml"), tgt("b", "b.yml")},
			[]string{ReasonAuthorized, ReasonMaxTargetsExceeded, ReasonMaxTargetsExceeded}},
		{"allowlist denials do not enter the duplicate set", func() Policy { p := capped(5); p.TargetRepoAllowlist = ParseAllowlist("org/a"); return p }(), lk(), nil,
			[]dispatching.OutboundTarget{tgt("b", "b.yml"), tgt("b", "b.yml")},
			[]string{ReasonTargetRepoNotAllowlisted, ReasonTargetRepoNotAllowlisted}},
		{"self-dispatch denials do not enter the duplicate set", capped(5), lk(), nil,
			[]dispatching.OutboundTarget{tgt("source", "ci.yml"), tgt("org/SOURCE", ".github/workflows/CI.yml")},
			[]string{ReasonSelfDispatchBlocked, ReasonSelfDispatchBlocked}},
		{"same repo, other workflow is not self-dispatch", capped(5), newLookup().with("org/source", allowAll("org/source", nil, "deploy.yml")), nil,
			[]dispatching.OutboundTarget{tgt("source", "deploy.yml")},
			[]string{ReasonAuthorized}},
		{"duplicates ignore ref, inputs and case", capped(5), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), func() dispatching.OutboundTarget { x := tgt("ORG/A", "x/a.yml", "k", "v"); x.Ref = "other"; return x }()},
			[]string{ReasonAuthorized, ReasonDuplicateTarget}},
		{"inbound denials still take a slot", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("nowhere", "a.yml"), tgt("a", "a.yml")},
			[]string{ReasonMissingTargetConfig, ReasonMaxTargetsExceeded}},
		{"inbound denials enter the duplicate set", capped(5), lk(), nil,
			[]dispatching.OutboundTarget{tgt("nowhere", "a.yml"), tgt("nowhere", "a.yml")},
			[]string{ReasonMissingTargetConfig, ReasonDuplicateTarget}},
		{"allowlist before duplicate", func() Policy { p := capped(5); p.TargetRepoAllowlist = ParseAllowlist("org/a"); return p }(), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("b", "b.yml"), tgt("a", "a.yml")},
			[]string{ReasonAuthorized, ReasonTargetRepoNotAllowlisted, ReasonDuplicateTarget}},
		{"allowlist before self-dispatch", func() Policy { p := capped(5); p.TargetRepoAllowlist = ParseAllowlist("org/a"); return p }(), lk(), nil,
			[]dispatching.OutboundTarget{tgt("source", "ci.yml")},
			[]string{ReasonTargetRepoNotAllowlisted}},
		{"duplicate before cap", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("a", "a.yml")},
			[]string{ReasonAuthorized, ReasonDuplicateTarget}},
		{"self-dispatch before cap", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("source", "ci.yml")},
			[]string{ReasonAuthorized, ReasonSelfDispatchBlocked}},
		{"25 inputs are fine", capped(5), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", many(25)...)},
			[]string{ReasonInputsNotAccepted}},
		{"26 inputs are too many and take no slot", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", many(26)...), tgt("b", "b.yml")},
			[]string{ReasonTooManyInputs, ReasonAuthorized}},
		{"template errors before input limits", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", append(many(26), "bad", "{{ x }}")...)},
			[]string{ReasonInputsTemplateError}},
		{"inputs over 65,535 characters", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", strings.Repeat("k", 40000), "v", strings.Repeat("j", 25535), "v"), tgt("b", "b.yml")},
			[]string{ReasonInputsTooLarge, ReasonAuthorized}},
		{"inputs of exactly 65,535 characters", capped(1), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", strings.Repeat("k", 40000), "v", strings.Repeat("j", 25533), "v")},
			[]string{ReasonInputsNotAccepted}},
		{"limits before allowlist", func() Policy { p := capped(5); p.TargetRepoAllowlist = ParseAllowlist("x/y"); return p }(), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml", many(26)...)},
			[]string{ReasonTooManyInputs}},
		{"cycle", capped(5), lk(), []ChainLink{{"org/a", ".github/workflows/a.yml"}, {"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("ORG/A", "a.yml"), tgt("b", "b.yml"), tgt("a", "A.yml")},
			[]string{ReasonDispatchCycle, ReasonAuthorized, ReasonInboundNotAuthorized}},
		{"self-dispatch before cycle", capped(5), lk(), []ChainLink{{"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("source", "ci.yml")},
			[]string{ReasonSelfDispatchBlocked}},
		{"duplicate before cycle", capped(5), lk(), []ChainLink{{"org/x", "x.yml"}, {"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("a", "a.yml")},
			[]string{ReasonAuthorized, ReasonDuplicateTarget}},
		{"cycle denials take no slot and do not enter the duplicate set", capped(1), lk(), []ChainLink{{"org/a", "a.yml"}, {"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("a", "a.yml"), tgt("b", "b.yml")},
			[]string{ReasonDispatchCycle, ReasonDispatchCycle, ReasonAuthorized}},
		{"depth within the limit", func() Policy { p := capped(5); p.MaxChainDepth = 2; return p }(), lk(),
			[]ChainLink{{"org/x", "x.yml"}, {"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("a", "a.yml")},
			[]string{ReasonAuthorized}},
		{"depth over the limit, cycle first", func() Policy { p := capped(5); p.MaxChainDepth = 2; return p }(), lk(),
			[]ChainLink{{"org/x", "x.yml"}, {"org/y", "y.yml"}, {"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("y", "y.yml")},
			[]string{ReasonChainDepthExceeded, ReasonDispatchCycle}},
		{"depth limit before cap", func() Policy { p := capped(1); p.MaxChainDepth = 1; return p }(), lk(),
			[]ChainLink{{"org/x", "x.yml"}, {"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("a", "a.yml"), tgt("b", "b.yml")},
			[]string{ReasonChainDepthExceeded, ReasonChainDepthExceeded}},
		{"a chain of one is the root", func() Policy { p := capped(5); p.MaxChainDepth = 1; return p }(), lk(),
			[]ChainLink{{"org/source", "ci.yml"}},
			[]dispatching.OutboundTarget{tgt("a", "a.yml")},
			[]string{ReasonAuthorized}},
		{"no chain is the root", func() Policy { p := capped(5); p.MaxChainDepth = 1; return p }(), lk(), nil,
			[]dispatching.OutboundTarget{tgt("a", "a.yml")},
			[]string{ReasonAuthorized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := buildOne(tt.pol, tt.lk, tt.chain, tt.targets...)
			if got := reasons(p); !slices.Equal(got, tt.want) {
				t.Errorf("reasons = %q, want %q", got, tt.want)
				for _, x := range p.Targets {
					t.Logf("  %s %s: %s", x.Repository, x.Workflow, x.Detail)
				}
			}
			for _, x := range p.Targets {
				if x.Detail == "" || (x.Decision != DecisionDispatch && x.Decision != DecisionDeny) {
					t.Errorf("target %+v lacks a decision or detail", x)
				}
				if (x.Decision == DecisionDispatch) != (x.Reason == ReasonAuthorized) {
					t.Errorf("decision %s with reason %s", x.Decision, x.Reason)
				}
			}
		})
	}
}

func TestBuildTemplateDenial(t *testing.T) {
	lk := newLookup().with("org/a", allowAll("org/source", []string{"sha", "env"}, "a.yml"))
	bad := tgt("a", "a.yml", "sha", "{{ source.sha }}", "env", "{{ source.env }}")
	bad.Pos = dispatching.Pos{Line: 7, Column: 9}
	p := buildOne(permissive(), lk, nil, bad)
	got := p.Targets[0]
	if got.Reason != ReasonInputsTemplateError {
		t.Fatalf("reason = %s", got.Reason)
	}
	if got.Inputs["sha"] != "{{ source.sha }}" || got.Inputs["env"] != "{{ source.env }}" {
		t.Errorf("denied target holds %q, want the unresolved inputs", got.Inputs)
	}
	for _, want := range []string{`input "env"`, `"source.env"`, "outbound rule 1 target 1 in org/source/dispatching.yml:7"} {
		if !strings.Contains(got.Detail, want) {
			t.Errorf("detail %q lacks %q", got.Detail, want)
		}
	}
	if lk.totalCalls() != 0 {
		t.Error("a template-denied target's config was read")
	}

	good := tgt("a", "a.yml", "sha", "{{ source.sha }}", "env", "prod")
	p = buildOne(permissive(), lk, nil, good)
	if got := p.Targets[0]; got.Reason != ReasonAuthorized || got.Inputs["sha"] != "abc123def456abc123def456abc123def456abc1" || got.Inputs["env"] != "prod" {
		t.Errorf("got %+v", got)
	}
}

func TestBuildRef(t *testing.T) {
	withRef := tgt("a", "a.yml")
	withRef.Ref = "release"
	lk := newLookup().with("org/a", allowAll("org/source", nil, "a.yml"))
	tests := []struct {
		name    string
		branch  *string
		defRef  string
		target  dispatching.OutboundTarget
		wantRef string
	}{
		{"target ref wins", strp("main"), "main", withRef, "release"},
		{"head branch", strp("feature"), "main", tgt("a", "a.yml"), "feature"},
		{"empty head branch used as is", strp(""), "main", tgt("a", "a.yml"), ""},
		{"null head branch gives the default ref", nil, "trunk", tgt("a", "a.yml"), "trunk"},
		{"no default ref means main", nil, "", tgt("a", "a.yml"), "main"},
		{"target ref wins over a null branch", nil, "trunk", withRef, "release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := event("org", "source", "ci.yml")
			ev.Run.HeadBranch = tt.branch
			pol := permissive()
			pol.DefaultDispatchRef = tt.defRef
			src := found("org/source", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("ci.yml", tt.target)}})
			p := Build(context.Background(), Input{Event: ev, Source: src, Targets: lk, Policy: pol})
			if len(p.Targets) != 1 || p.Targets[0].Ref != tt.wantRef {
				t.Fatalf("targets = %+v, want ref %q", p.Targets, tt.wantRef)
			}
			if p.Targets[0].Decision != DecisionDispatch {
				t.Errorf("decision = %s (%s)", p.Targets[0].Decision, p.Targets[0].Detail)
			}
		})
	}
}

func TestBuildTargetConfigs(t *testing.T) {
	lk := newLookup().
		with("org/ok", allowAll("org/source", nil, "a.yml", "b.yml", "c.yml")).
		withResult("org/bad", ConfigResult{Status: ConfigInvalid, Path: "org/bad/.github/dispatching.yml", Problem: "3:1: duplicate key \"inbound\""}).
		withResult("org/down", ConfigResult{Status: ConfigUnreadable, Problem: "GET contents: 502 Bad Gateway"}).
		withResult("org/odd", ConfigResult{Status: ConfigFound})
	p := buildOne(permissive(), lk, nil,
		tgt("ok", "a.yml"), tgt("nothing", "a.yml"), tgt("bad", "a.yml"), tgt("down", "a.yml"), tgt("odd", "a.yml"),
		tgt("OK", "b.yml"), tgt("org/Ok", "c.yml"))
	want := []string{ReasonAuthorized, ReasonMissingTargetConfig, ReasonInvalidTargetConfig, ReasonTargetConfigUnreadable,
		ReasonTargetConfigUnreadable, ReasonAuthorized, ReasonAuthorized}
	if got := reasons(p); !slices.Equal(got, want) {
		t.Fatalf("reasons = %q, want %q", got, want)
	}
	if !strings.Contains(p.Targets[2].Detail, `org/bad/.github/dispatching.yml is invalid: 3:1: duplicate key "inbound"`) {
		t.Errorf("invalid detail = %q", p.Targets[2].Detail)
	}
	if !strings.Contains(p.Targets[3].Detail, "502 Bad Gateway") {
		t.Errorf("unreadable detail = %q", p.Targets[3].Detail)
	}
	if lk.calls["org/ok"] != 1 {
		t.Errorf("org/ok looked up %d times, want once per Build", lk.calls["org/ok"])
	}
	if lk.totalCalls() != 5 {
		t.Errorf("%d lookups, want 5: %v", lk.totalCalls(), lk.calls)
	}
}

func TestBuildNilLookup(t *testing.T) {
	p := buildOne(permissive(), nil, nil, tgt("a", "a.yml"))
	if got := reasons(p); !slices.Equal(got, []string{ReasonTargetConfigUnreadable}) {
		t.Errorf("reasons = %q", got)
	}
}

// A bare inbound source.repository means the target's own owner.
func TestBuildBareInboundName(t *testing.T) {
	bare := &dispatching.Config{Inbound: []dispatching.InboundRule{in("source", "ci.yml", accept("a.yml", nil))}}
	lk := newLookup().with("org/a", bare).with("elsewhere/a", bare)
	p := buildOne(permissive(), lk, nil, tgt("a", "a.yml"), tgt("elsewhere/a", "a.yml"))
	if got := reasons(p); !slices.Equal(got, []string{ReasonAuthorized, ReasonInboundNotAuthorized}) {
		t.Errorf("reasons = %q", got)
	}
}

func TestBuildDetailsAndRefs(t *testing.T) {
	ev := event("acme", "api", ".github/workflows/ci.yml")
	deploy := tgt("deploy", "cd.yml")
	deploy.Pos = dispatching.Pos{Line: 5, Column: 7}
	web := tgt("acme/web", ".github/workflows/cd.yml")
	web.Pos = dispatching.Pos{Line: 7, Column: 7}
	rule := out("ci.yml", deploy, web)
	rule.Pos = dispatching.Pos{Line: 2, Column: 3}
	src := ConfigResult{Status: ConfigFound, Path: "acme/api/dispatching.yml", Config: &dispatching.Config{Outbound: []dispatching.OutboundRule{rule}}}
	inRule := in("acme/api", "ci.yml", accept("cd.yml", nil))
	inRule.Pos = dispatching.Pos{Line: 3, Column: 3}
	lk := newLookup().
		with("acme/deploy", &dispatching.Config{Inbound: []dispatching.InboundRule{inRule}}).
		with("acme/web", &dispatching.Config{})
	p := Build(context.Background(), Input{Event: ev, Source: src, Targets: lk, Policy: permissive()})
	if len(p.Targets) != 2 {
		t.Fatalf("targets = %+v", p.Targets)
	}
	d, w := p.Targets[0], p.Targets[1]
	if d.Detail != "inbound rule 1 in acme/deploy/dispatching.yml:3 allows acme/api ci.yml to dispatch cd.yml" {
		t.Errorf("allowed detail = %q", d.Detail)
	}
	if w.Detail != "no inbound rule in acme/web/dispatching.yml names source acme/api ci.yml and workflow cd.yml" {
		t.Errorf("denied detail = %q", w.Detail)
	}
	if *d.Outbound != (RuleRef{File: "acme/api/dispatching.yml", Rule: 1, Target: 1, Line: 5, Column: 7}) {
		t.Errorf("outbound ref = %+v", *d.Outbound)
	}
	if d.Inbound == nil || *d.Inbound != (RuleRef{File: "acme/deploy/dispatching.yml", Rule: 1, Line: 3, Column: 3}) {
		t.Errorf("inbound ref = %+v", d.Inbound)
	}
	if w.Inbound != nil {
		t.Errorf("denied target has inbound ref %+v", w.Inbound)
	}
	want := Source{Repository: "acme/api", Workflow: "ci.yml", RunID: 987654321, RunAttempt: 1, HeadBranch: "main",
		HeadSHA: "abc123def456abc123def456abc123def456abc1", Conclusion: "success"}
	if p.Source != want {
		t.Errorf("source = %+v", p.Source)
	}
}

func TestPlanJSONTargetsNeverNull(t *testing.T) {
	ev := event("acme", "api", "ci.yml")
	ev.Run.Conclusion = "failure"
	p := Build(context.Background(), Input{Event: ev, Policy: DefaultPolicy()})
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"targets":[]`) || !strings.Contains(string(b), `"reason":"source_conclusion_not_allowed"`) {
		t.Errorf("json = %s", b)
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if !p.EnforceSourceDefaultBranch || p.MaxTargetsPerRun != 25 || p.MaxChainDepth != 5 || p.DefaultDispatchRef != "main" ||
		!p.AllowedSourceConclusions.Allows("success") || p.AllowedSourceConclusions.Allows("failure") {
		t.Errorf("DefaultPolicy() = %+v", p)
	}
}

// A zero cap or depth means the default, not "nothing allowed".
func TestBuildZeroPolicyLimits(t *testing.T) {
	lk := newLookup().with("org/a", allowAll("org/source", nil, "a.yml"))
	chain := make([]ChainLink, 5)
	for i := range chain {
		chain[i] = ChainLink{Repository: "org/x", Workflow: strings.Repeat("x", i+1) + ".yml"}
	}
	p := buildOne(Policy{}, lk, chain, tgt("a", "a.yml"))
	if got := reasons(p); !slices.Equal(got, []string{ReasonAuthorized}) {
		t.Errorf("depth 5: reasons = %q", got)
	}
	p = buildOne(Policy{}, lk, append(chain, ChainLink{Repository: "org/y", Workflow: "y.yml"}), tgt("a", "a.yml"))
	if got := reasons(p); !slices.Equal(got, []string{ReasonChainDepthExceeded}) {
		t.Errorf("depth 6: reasons = %q", got)
	}
}
