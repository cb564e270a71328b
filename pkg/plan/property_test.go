package plan

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"pgregory.net/rapid"
)

// The generated worlds are small on purpose, so that collisions
// (duplicates, self-dispatch, shared repositories, the cap) are common.
var (
	propRepos     = []string{"a", "b", "org/c", "ORG/A", "other/d", "src", "org/src"}
	propWorkflows = []string{"a.yml", "b.yml", "ci.yml", ".github/workflows/a.yml", "A.yml"}
	propValues    = []string{"v", "", "{{ source.sha }}", "{{ source.nope }}", "{{ source.repo }}-x"}
	propKeys      = []string{"k1", "k2", "k3"}
	propSources   = []string{"src", "org/src", "other/src", "ORG/src"}
)

func genOutboundTarget(t *rapid.T) dispatching.OutboundTarget {
	tg := dispatching.OutboundTarget{
		Repository: rapid.SampledFrom(propRepos).Draw(t, "repo"),
		Workflow:   rapid.SampledFrom(propWorkflows).Draw(t, "workflow"),
		Ref:        rapid.SampledFrom([]string{"", "release"}).Draw(t, "ref"),
	}
	for _, k := range rapid.SliceOfNDistinct(rapid.SampledFrom(propKeys), 0, 3, rapid.ID[string]).Draw(t, "keys") {
		tg.Inputs = append(tg.Inputs, dispatching.Input{Key: k, Value: rapid.SampledFrom(propValues).Draw(t, "value")})
	}
	return tg
}

func genOutboundRule(t *rapid.T) dispatching.OutboundRule {
	return dispatching.OutboundRule{
		Source:  dispatching.OutboundSource{Workflow: rapid.SampledFrom([]string{"ci.yml", "lint.yml"}).Draw(t, "source")},
		Targets: rapid.SliceOfN(rapid.Custom(genOutboundTarget), 1, 4).Draw(t, "targets"),
	}
}

func genInboundRule(t *rapid.T) dispatching.InboundRule {
	n := rapid.IntRange(1, 3).Draw(t, "n")
	r := dispatching.InboundRule{Source: dispatching.InboundSource{
		Repository: rapid.SampledFrom(propSources).Draw(t, "source"),
		Workflow:   rapid.SampledFrom([]string{"ci.yml", "lint.yml"}).Draw(t, "workflow"),
	}}
	for range n {
		it := dispatching.InboundTarget{Workflow: rapid.SampledFrom(propWorkflows).Draw(t, "target")}
		switch rapid.IntRange(0, 2).Draw(t, "accept") {
		case 1:
			it.AcceptInputs = []string{}
		case 2:
			it.AcceptInputs = rapid.SliceOfNDistinct(rapid.SampledFrom(propKeys), 1, 3, rapid.ID[string]).Draw(t, "accepted")
		}
		r.Targets = append(r.Targets, it)
	}
	return r
}

// propWorld is one generated situation.
type propWorld struct {
	outbound []dispatching.OutboundRule
	inbound  map[string][]dispatching.InboundRule // by lower-cased repo; absent = missing config
	policy   Policy
	chain    []ChainLink
}

func genWorld(t *rapid.T) propWorld {
	w := propWorld{
		outbound: rapid.SliceOfN(rapid.Custom(genOutboundRule), 0, 5).Draw(t, "outbound"),
		inbound:  map[string][]dispatching.InboundRule{},
		policy: Policy{
			MaxTargetsPerRun:    rapid.IntRange(1, 6).Draw(t, "cap"),
			TargetRepoAllowlist: ParseAllowlist(rapid.SampledFrom([]string{"", "org/*", "org/a,other/*", "x/y"}).Draw(t, "allow")),
			MaxChainDepth:       rapid.IntRange(1, 4).Draw(t, "depth"),
			DefaultDispatchRef:  "main",
		},
	}
	for _, repo := range []string{"org/a", "org/b", "org/c", "other/d", "org/src"} {
		if rapid.Bool().Draw(t, "has config "+repo) {
			w.inbound[repo] = rapid.SliceOfN(rapid.Custom(genInboundRule), 0, 3).Draw(t, "inbound "+repo)
		}
	}
	for range rapid.IntRange(0, 3).Draw(t, "chain") {
		w.chain = append(w.chain, ChainLink{
			Repository: rapid.SampledFrom([]string{"org/a", "org/B", "other/d"}).Draw(t, "chain repo"),
			Workflow:   rapid.SampledFrom(propWorkflows).Draw(t, "chain workflow"),
		})
	}
	if len(w.chain) > 0 {
		w.chain = append(w.chain, ChainLink{Repository: "org/src", Workflow: "ci.yml"})
	}
	return w
}

func (w propWorld) build() Plan {
	lk := newLookup()
	for repo, rules := range w.inbound {
		lk.with(repo, &dispatching.Config{Inbound: rules})
	}
	ev := event("org", "src", ".github/workflows/ci.yml")
	src := found("org/src", &dispatching.Config{Outbound: w.outbound})
	return Build(context.Background(), Input{Event: ev, Source: src, Targets: lk, Policy: w.policy, Chain: w.chain})
}

func dispatchKeys(p Plan) []string {
	var out []string
	for _, t := range p.Dispatches() {
		out = append(out, strings.ToLower(t.Repository)+"#"+strings.ToLower(t.Workflow))
	}
	return out
}

func TestPropertyPlanInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorld(t)
		p := w.build()
		keys := dispatchKeys(p)
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(keys) {
			t.Fatalf("two dispatches of the same repository and workflow: %q", keys)
		}
		if len(keys) > w.policy.MaxTargetsPerRun {
			t.Fatalf("%d dispatches over the cap %d", len(keys), w.policy.MaxTargetsPerRun)
		}
		if p.Targets == nil {
			t.Fatal("nil targets")
		}
		if p.Eligible && len(p.Targets) != len(MatchOutbound(&dispatching.Config{Outbound: w.outbound}, "org", "ci.yml")) {
			t.Fatalf("%d targets for a different number of candidates", len(p.Targets))
		}
		for _, tg := range p.Targets {
			if tg.Detail == "" || tg.Reason == "" {
				t.Fatalf("target without reason or detail: %+v", tg)
			}
			if (tg.Decision == DecisionDispatch) != (tg.Reason == ReasonAuthorized) {
				t.Fatalf("decision %q with reason %q", tg.Decision, tg.Reason)
			}
		}
	})
}

func TestPropertyAddingInboundRuleNeverRemovesDispatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorld(t)
		before := w.build()
		repo := rapid.SampledFrom([]string{"org/a", "org/b", "org/c", "other/d", "org/src"}).Draw(t, "repo")
		rule := rapid.Custom(genInboundRule).Draw(t, "rule")
		rules := slices.Clone(w.inbound[repo])
		at := rapid.IntRange(0, len(rules)).Draw(t, "at")
		w.inbound = cloneInbound(w.inbound)
		w.inbound[repo] = slices.Insert(rules, at, rule)
		after := w.build()
		for i, tg := range before.Targets {
			if tg.Decision == DecisionDispatch && after.Targets[i].Decision != DecisionDispatch {
				t.Fatalf("target %d (%s %s) was dispatched, now %s: %s", i, tg.Repository, tg.Workflow, after.Targets[i].Reason, after.Targets[i].Detail)
			}
		}
	})
}

// Removing an outbound rule never adds a dispatch, except through a slot it
// frees: every dispatch after the removal was, before it, a dispatch or a
// denial that depends on slots taken earlier in the run (duplicate_target,
// max_targets_exceeded). The original's guardrails count slots before
// inbound authorisation, so a removed candidate that was later denied by
// its target can free a slot for another; when no target is denied for a
// slot, nothing is added at all.
func TestPropertyRemovingOutboundRuleNeverAddsDispatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorld(t)
		if len(w.outbound) == 0 {
			return
		}
		before := w.build()
		drop := rapid.IntRange(0, len(w.outbound)-1).Draw(t, "drop")
		w.outbound = slices.Delete(slices.Clone(w.outbound), drop, drop+1)
		after := w.build()
		if !before.Eligible {
			if len(after.Dispatches()) > 0 {
				t.Fatalf("an ineligible source became eligible")
			}
			return
		}
		// Map each remaining candidate back to its index before the removal.
		var old []int
		for i, tg := range before.Targets {
			if tg.Outbound.Rule-1 != drop {
				old = append(old, i)
			}
		}
		if len(old) != len(after.Targets) {
			t.Fatalf("%d candidates left, want %d", len(after.Targets), len(old))
		}
		slotDenials := false
		for _, tg := range before.Targets {
			if tg.Reason == ReasonDuplicateTarget || tg.Reason == ReasonMaxTargetsExceeded {
				slotDenials = true
			}
		}
		for j, tg := range after.Targets {
			if tg.Decision != DecisionDispatch {
				continue
			}
			prev := before.Targets[old[j]]
			switch {
			case prev.Decision == DecisionDispatch:
			case !slotDenials:
				t.Fatalf("removing rule %d added a dispatch of %s %s (was %s) with no slot denial before", drop+1, tg.Repository, tg.Workflow, prev.Reason)
			case prev.Reason != ReasonDuplicateTarget && prev.Reason != ReasonMaxTargetsExceeded:
				t.Fatalf("removing rule %d added a dispatch of %s %s that was denied %s", drop+1, tg.Repository, tg.Workflow, prev.Reason)
			}
		}
	})
}

// The plan is a pure function of its input.
func TestPropertyDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := genWorld(t)
		a, b := w.build(), w.build()
		if len(a.Targets) != len(b.Targets) || a.Detail != b.Detail {
			t.Fatal("two builds differ")
		}
		for i := range a.Targets {
			x, y := a.Targets[i], b.Targets[i]
			if x.Reason != y.Reason || x.Detail != y.Detail || x.Ref != y.Ref {
				t.Fatalf("target %d differs: %+v vs %+v", i, x, y)
			}
		}
	})
}

func cloneInbound(m map[string][]dispatching.InboundRule) map[string][]dispatching.InboundRule {
	out := make(map[string][]dispatching.InboundRule, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
