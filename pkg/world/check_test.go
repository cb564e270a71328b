package world

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// checkWant is one expected finding: "owner/repo/file:line:col rule" and a
// piece of its message.
type checkWant struct {
	at, rule, msg string
}

// runCheck loads files as a world and returns its findings with file names
// relative to the folder.
func runCheck(t *testing.T, files map[string]string) ([]dispatching.Diagnostic, string) {
	t.Helper()
	dir := writeTree(t, files)
	w, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ds := dispatching.SortDiagnostics(w.Check())
	for i := range ds {
		rel, err := filepath.Rel(dir, ds[i].File)
		if err != nil {
			t.Fatal(err)
		}
		ds[i].File = filepath.ToSlash(rel)
		if ds[i].Severity != dispatching.SeverityWarning {
			t.Errorf("%+v: severity %s, want warning", ds[i], ds[i].Severity)
		}
	}
	return ds, dir
}

func checkMatches(t *testing.T, got []dispatching.Diagnostic, want []checkWant) {
	t.Helper()
	var lines []string
	for _, d := range got {
		lines = append(lines, fmt.Sprintf("%s:%d:%d %s: %s", d.File, d.Line, d.Column, d.Rule, d.Message))
	}
	dump := strings.Join(lines, "\n")
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d:\n%s", len(got), len(want), dump)
	}
	for i, w := range want {
		d := got[i]
		at := fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Column)
		if at != w.at || d.Rule != w.rule || !strings.Contains(d.Message, w.msg) {
			t.Errorf("finding %d = %s, want %s %s containing %q\nall:\n%s", i, lines[i], w.at, w.rule, w.msg, dump)
		}
	}
}

// Outbound configs used below put the first target at line 5, column 7:
//
//	1 outbound:
//	2   - source:
//	3       workflow: ci.yml
//	4     targets:
//	5       - repository: …
func outbound(targets ...string) string {
	var b strings.Builder
	b.WriteString("outbound:\n  - source:\n      workflow: ci.yml\n    targets:\n")
	for _, t := range targets {
		b.WriteString(t)
	}
	return b.String()
}

// target renders one outbound target (2 lines, plus one per input and one
// for the inputs key).
func target(repo, workflow string, inputs ...string) string {
	s := fmt.Sprintf("      - repository: %s\n        workflow: %s\n", repo, workflow)
	if len(inputs) > 0 {
		s += "        inputs:\n"
		for _, in := range inputs {
			s += fmt.Sprintf("          %s: x\n", in)
		}
	}
	return s
}

// inbound renders an inbound-only config whose first rule is at line 2,
// column 5.
func inbound(source, workflow string, targets ...string) string {
	s := fmt.Sprintf("inbound:\n  - source:\n      repository: %s\n      workflow: %s\n    targets:\n", source, workflow)
	for _, t := range targets {
		s += "      - workflow: " + t + "\n"
	}
	return s
}

const dispatchable = "on: workflow_dispatch\n"

func TestCheckAuthorization(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []checkWant
	}{
		{
			name: "authorised: nothing to say",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml": inbound("acme/a", "ci.yml", "cd.yml"),
			},
		},
		{
			name: "target repository not in the folder",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("acme/gone", "cd.yml")),
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "acme/gone cd.yml would be denied (missing_target_config): acme/gone is not in the world folder"}},
		},
		{
			name: "target repository without dispatching.yml",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/README.md":       "hi\n",
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "(missing_target_config): acme/b has no dispatching.yml"}},
		},
		{
			name: "invalid target config",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml": "inbounds: []\n",
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, `(invalid_target_config): `}},
		},
		{
			name: "no inbound rule names the source",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml": inbound("acme/other", "ci.yml", "cd.yml"),
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "(inbound_not_authorized): no inbound rule in"}},
		},
		{
			name: "inputs not accepted",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml", "sha")),
				"acme/b/dispatching.yml": inbound("acme/a", "ci.yml", "cd.yml"),
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "(inputs_not_accepted): inbound rule 1 in"}},
		},
		{
			name: "a bare inbound name means the target's own owner",
			files: map[string]string{
				"other/a/dispatching.yml": outbound(target("acme/b", "cd.yml")),
				"acme/b/dispatching.yml":  inbound("a", "ci.yml", "cd.yml"),
			},
			want: []checkWant{{"other/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "(inbound_not_authorized)"}},
		},
		{
			name: "inbound owner/name is case-sensitive, as in the engine",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml": inbound("ACME/a", "ci.yml", "cd.yml"),
			},
			want: []checkWant{
				{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "(inbound_not_authorized)"},
				{"acme/b/dispatching.yml:2:5", dispatching.RuleUnusedInboundRule, "(source.repository is compared case-sensitively; the repository is acme/a)"},
			},
		},
		{
			name: "self-dispatch and duplicates are left to the per-file lint",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("a", "ci.yml"), target("gone", "cd.yml"), target("GONE", "cd.yml")),
			},
			want: []checkWant{{"acme/a/dispatching.yml:7:9", dispatching.RuleUnauthorizedTarget, "acme/gone cd.yml would be denied"}},
		},
		{
			name: "source workflows are matched by base name and grouped like the engine",
			files: map[string]string{
				"acme/a/dispatching.yml": "outbound:\n  - source:\n      workflow: .github/workflows/ci.yml\n    targets:\n" + target("b", "cd.yml") +
					"  - source:\n      workflow: ci.yml\n    targets:\n" + target("b", "cd.yml"),
				"acme/b/dispatching.yml": inbound("acme/a", "ci.yml", "cd.yml"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runCheck(t, tt.files)
			checkMatches(t, got, tt.want)
		})
	}
}

func TestCheckUnusedInbound(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []checkWant
	}{
		{
			name: "source outside the folder: nothing to compare with",
			files: map[string]string{
				"acme/b/dispatching.yml": inbound("acme/elsewhere", "ci.yml", "cd.yml"),
			},
		},
		{
			name: "source in the folder never dispatches it",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("c", "cd.yml")),
				"acme/b/dispatching.yml": inbound("a", "ci.yml", "cd.yml", "other.yml"),
				"acme/c/dispatching.yml": inbound("a", "ci.yml", "cd.yml"),
			},
			want: []checkWant{{"acme/b/dispatching.yml:2:5", dispatching.RuleUnusedInboundRule, "inbound rule 1 lets acme/a ci.yml dispatch cd.yml, other.yml, but no outbound rule for ci.yml in"}},
		},
		{
			name: "one target entry of a used rule is unused",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml": inbound("a", "ci.yml", "cd.yml", "other.yml"),
			},
			want: []checkWant{{"acme/b/dispatching.yml:7:9", dispatching.RuleUnusedInboundRule, "dispatch other.yml, but no outbound rule for ci.yml in"}},
		},
		{
			name: "source without dispatching.yml",
			files: map[string]string{
				"acme/a/README.md":       "",
				"acme/b/dispatching.yml": inbound("acme/a", "ci.yml", "cd.yml"),
			},
			want: []checkWant{{"acme/b/dispatching.yml:2:5", dispatching.RuleUnusedInboundRule, "acme/a has no dispatching.yml, so it dispatches nothing"}},
		},
		{
			name: "invalid source: its own errors say why",
			files: map[string]string{
				"acme/a/dispatching.yml": "outbound: 3\n",
				"acme/b/dispatching.yml": inbound("acme/a", "ci.yml", "cd.yml"),
			},
		},
		{
			name: "a rule whose inputs are refused is still used (the outbound side is reported)",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml", "sha")),
				"acme/b/dispatching.yml": inbound("acme/a", "ci.yml", "cd.yml"),
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "inputs_not_accepted"}},
		},
		{
			name: "a self-dispatch does not use a rule",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("a", "ci.yml")) + "inbound:\n  - source:\n      repository: a\n      workflow: ci.yml\n    targets:\n      - workflow: ci.yml\n",
			},
			want: []checkWant{{"acme/a/dispatching.yml:8:5", dispatching.RuleUnusedInboundRule, "inbound rule 1 lets acme/a ci.yml dispatch ci.yml"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runCheck(t, tt.files)
			checkMatches(t, got, tt.want)
		})
	}
}

func TestCheckWorkflows(t *testing.T) {
	auth := inbound("acme/a", "ci.yml", "cd.yml")
	authIn := "inbound:\n  - source:\n      repository: acme/a\n      workflow: ci.yml\n    targets:\n      - workflow: cd.yml\n        accept_inputs: [sha, env, extra]\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []checkWant
	}{
		{
			name: "target without a workflows folder: nothing said",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml": auth,
			},
		},
		{
			name: "workflow missing from the workflows folder",
			files: map[string]string{
				"acme/a/dispatching.yml":             outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml":             auth,
				"acme/b/.github/workflows/build.yml": dispatchable,
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnknownTargetWorkflow, "acme/b cd.yml: there is no cd.yml in"}},
		},
		{
			name: "did you mean",
			files: map[string]string{
				"acme/a/dispatching.yml":           outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml":           auth,
				"acme/b/.github/workflows/cd.yaml": dispatchable,
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnknownTargetWorkflow, `(did you mean "cd.yaml"?)`}},
		},
		{
			name: "an unauthorised target is checked too",
			files: map[string]string{
				"acme/a/dispatching.yml":          outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml":          "inbound: []\n",
				"acme/b/.github/workflows/ci.yml": dispatchable,
			},
			want: []checkWant{
				{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "inbound_not_authorized"},
				{"acme/a/dispatching.yml:5:9", dispatching.RuleUnknownTargetWorkflow, "(it has ci.yml)"},
			},
		},
		{
			name: "no workflow_dispatch trigger",
			files: map[string]string{
				"acme/a/dispatching.yml":          outbound(target("b", "cd.yml", "sha")),
				"acme/b/dispatching.yml":          authIn,
				"acme/b/.github/workflows/cd.yml": "on:\n  push:\n",
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleTargetNotDispatchable, "has no on: workflow_dispatch trigger"}},
		},
		{
			name: "unreadable workflow",
			files: map[string]string{
				"acme/a/dispatching.yml":          outbound(target("b", "cd.yml")),
				"acme/b/dispatching.yml":          auth,
				"acme/b/.github/workflows/cd.yml": "on: [\n",
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleTargetNotDispatchable, "cannot be read as a workflow"}},
		},
		{
			name: "workflow_dispatch in a list or a string",
			files: map[string]string{
				"acme/a/dispatching.yml":           outbound(target("b", "cd.yml"), target("b", "cd2.yml")),
				"acme/b/dispatching.yml":           inbound("acme/a", "ci.yml", "cd.yml", "cd2.yml"),
				"acme/b/.github/workflows/cd.yml":  "on: [push, workflow_dispatch]\n",
				"acme/b/.github/workflows/cd2.yml": dispatchable,
			},
		},
		{
			name: "undeclared inputs at the input, missing required inputs at the target",
			files: map[string]string{
				"acme/a/dispatching.yml": outbound(target("b", "cd.yml", "sha", "extra")),
				"acme/b/dispatching.yml": authIn,
				"acme/b/.github/workflows/cd.yml": `on:
  workflow_dispatch:
    inputs:
      sha: {}
      env:
        required: true
      region:
        required: true
      level:
        required: true
        default: info
`,
			},
			want: []checkWant{
				{"acme/a/dispatching.yml:5:9", dispatching.RuleMissingRequiredInput, `requires inputs "env", "region" (required: true, no default) but this target does not send them`},
				{"acme/a/dispatching.yml:9:11", dispatching.RuleUndeclaredInput, `input "extra" sent to acme/b cd.yml is not declared under on.workflow_dispatch.inputs in`},
			},
		},
		{
			name: "every input declared and every required one sent",
			files: map[string]string{
				"acme/a/dispatching.yml":          outbound(target("b", "cd.yml", "sha", "env")),
				"acme/b/dispatching.yml":          authIn,
				"acme/b/.github/workflows/cd.yml": "on:\n  workflow_dispatch:\n    inputs:\n      sha:\n        required: true\n      env: {}\n",
			},
		},
		{
			name: "target outside the folder: only the authorisation finding",
			files: map[string]string{
				"acme/a/dispatching.yml":          outbound(target("gone", "cd.yml", "x")),
				"acme/a/.github/workflows/ci.yml": dispatchable,
			},
			want: []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleUnauthorizedTarget, "missing_target_config"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runCheck(t, tt.files)
			checkMatches(t, got, tt.want)
		})
	}
}

// chain builds a world where each repo's ci.yml dispatches the next ones'
// ci.yml and every edge in authorised is allowed by the target.
func chainWorld(edges [][2]string, authorised map[[2]string]bool) map[string]string {
	files := map[string]string{}
	out := map[string][]string{}
	in := map[string][]string{}
	var order []string
	for _, e := range edges {
		if _, ok := out[e[0]]; !ok {
			order = append(order, e[0])
		}
		out[e[0]] = append(out[e[0]], target(e[1], "ci.yml"))
		if authorised == nil || authorised[e] {
			in[e[1]] = append(in[e[1]], e[0])
		}
	}
	for _, e := range edges {
		for _, r := range e {
			var b strings.Builder
			if ts := out[r]; len(ts) > 0 {
				b.WriteString(outbound(ts...))
			}
			if srcs := in[r]; len(srcs) > 0 {
				b.WriteString("inbound:\n")
				for _, s := range srcs {
					fmt.Fprintf(&b, "  - source:\n      repository: %s\n      workflow: ci.yml\n    targets:\n      - workflow: ci.yml\n", s)
				}
			}
			if b.Len() == 0 {
				b.WriteString("inbound: []\n")
			}
			files["acme/"+r+"/dispatching.yml"] = b.String()
		}
	}
	return files
}

func TestCheckCycles(t *testing.T) {
	tests := []struct {
		name       string
		edges      [][2]string
		authorised map[[2]string]bool // nil: every edge
		want       []string           // "file:line message part"
	}{
		{
			name:  "no cycle",
			edges: [][2]string{{"a", "b"}, {"b", "c"}, {"a", "c"}},
		},
		{
			name:  "two repositories",
			edges: [][2]string{{"a", "b"}, {"b", "a"}},
			want:  []string{"acme/b/dispatching.yml:5 dispatch cycle acme/a ci.yml → acme/b ci.yml → acme/a ci.yml:"},
		},
		{
			name:  "three repositories, reported once at the edge back to the first",
			edges: [][2]string{{"b", "c"}, {"c", "a"}, {"a", "b"}},
			want:  []string{"acme/c/dispatching.yml:5 dispatch cycle acme/a ci.yml → acme/b ci.yml → acme/c ci.yml → acme/a ci.yml:"},
		},
		{
			name:  "two cycles through one repository: each once",
			edges: [][2]string{{"a", "b"}, {"a", "c"}, {"b", "a"}, {"c", "a"}},
			want: []string{
				"acme/b/dispatching.yml:5 acme/a ci.yml → acme/b ci.yml → acme/a ci.yml:",
				"acme/c/dispatching.yml:5 acme/a ci.yml → acme/c ci.yml → acme/a ci.yml:",
			},
		},
		{
			name:  "nested cycles",
			edges: [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"c", "b"}},
			want: []string{
				"acme/c/dispatching.yml:5 acme/a ci.yml → acme/b ci.yml → acme/c ci.yml → acme/a ci.yml:",
				"acme/c/dispatching.yml:7 acme/b ci.yml → acme/c ci.yml → acme/b ci.yml:",
			},
		},
		{
			name:       "a denied edge breaks the cycle",
			edges:      [][2]string{{"a", "b"}, {"b", "a"}},
			authorised: map[[2]string]bool{{"a", "b"}: true},
			want:       []string{"acme/b/dispatching.yml:5 (inbound_not_authorized)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runCheck(t, chainWorld(tt.edges, tt.authorised))
			var lines []string
			for _, d := range got {
				if d.Rule == dispatching.RuleDispatchCycle || d.Rule == dispatching.RuleUnauthorizedTarget {
					lines = append(lines, fmt.Sprintf("%s:%d %s", d.File, d.Line, d.Message))
				}
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d findings, want %d:\n%s", len(lines), len(tt.want), strings.Join(lines, "\n"))
			}
			for i, w := range tt.want {
				file, msg, _ := strings.Cut(w, " ")
				if !strings.HasPrefix(lines[i], file+" ") || !strings.Contains(lines[i], msg) {
					t.Errorf("finding %d = %s\nwant %s", i, lines[i], w)
				}
			}
		})
	}
}

// A cycle through two workflows of one repository counts: repositories are
// not the nodes, workflows are.
func TestCheckCycleWithinRepository(t *testing.T) {
	got, _ := runCheck(t, map[string]string{
		"acme/a/dispatching.yml": `outbound:
  - source:
      workflow: ci.yml
    targets:
      - repository: a
        workflow: cd.yml
  - source:
      workflow: cd.yml
    targets:
      - repository: a
        workflow: ci.yml
inbound:
  - source:
      repository: a
      workflow: ci.yml
    targets:
      - workflow: cd.yml
  - source:
      repository: a
      workflow: cd.yml
    targets:
      - workflow: ci.yml
`,
	})
	checkMatches(t, got, []checkWant{{"acme/a/dispatching.yml:5:9", dispatching.RuleDispatchCycle, "acme/a cd.yml → acme/a ci.yml → acme/a cd.yml"}})
}

// The search is bounded: a dense graph does not hang, and the last cycle
// reported says the search stopped.
func TestCheckCycleBound(t *testing.T) {
	var edges [][2]string
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, x := range names {
		for _, y := range names {
			if x != y {
				edges = append(edges, [2]string{x, y})
			}
		}
	}
	got, _ := runCheck(t, chainWorld(edges, nil))
	var cycles []dispatching.Diagnostic
	for _, d := range got {
		if d.Rule == dispatching.RuleDispatchCycle {
			cycles = append(cycles, d)
		}
	}
	if len(cycles) != MaxCycles {
		t.Fatalf("%d cycles reported, want the bound %d", len(cycles), MaxCycles)
	}
	if !slices.ContainsFunc(cycles, func(d dispatching.Diagnostic) bool { return strings.Contains(d.Message, "the search stopped here") }) {
		t.Error("no cycle says the search stopped")
	}
}

// unauthorized-target agrees with simulate: for every outbound target of
// the example world, the check reports it exactly when the engine denies it
// for a target-config reason.
func TestCheckAgreesWithEngine(t *testing.T) {
	w, err := Load(filepath.Join("..", "..", "examples", "world"))
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[string]bool{} // file:line
	for _, d := range w.Check() {
		if d.Rule == dispatching.RuleUnauthorizedTarget {
			flagged[fmt.Sprintf("%s:%d", d.File, d.Line)] = true
		}
	}
	configReasons := []string{plan.ReasonMissingTargetConfig, plan.ReasonInvalidTargetConfig, plan.ReasonTargetConfigUnreadable,
		plan.ReasonInboundNotAuthorized, plan.ReasonInputsNotAccepted}
	checked := 0
	for _, r := range w.Repos() {
		if r.Config.Config == nil {
			continue
		}
		for _, rule := range r.Config.Config.Outbound {
			ev, err := w.Event(RunSpec{Repository: r.FullName(), Workflow: dispatching.WorkflowBase(rule.Source.Workflow)})
			if err != nil {
				t.Fatal(err)
			}
			p := plan.Build(context.Background(), plan.Input{Event: ev, Source: r.Config, Targets: w, Policy: plan.DefaultPolicy()})
			for _, tg := range p.Targets {
				if tg.Outbound == nil || tg.Reason == plan.ReasonSelfDispatchBlocked || tg.Reason == plan.ReasonDuplicateTarget {
					continue
				}
				checked++
				at := fmt.Sprintf("%s:%d", r.ConfigFile, tg.Outbound.Line)
				if want := slices.Contains(configReasons, tg.Reason); flagged[at] != want {
					t.Errorf("%s %s %s: engine says %s, check flagged = %v", at, tg.Repository, tg.Workflow, tg.Reason, flagged[at])
				}
			}
		}
	}
	if checked < 6 {
		t.Errorf("only %d targets compared", checked)
	}
}
