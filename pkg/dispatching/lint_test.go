package dispatching

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLint(t *testing.T) {
	tests := []struct {
		name  string
		repo  string
		src   string
		wants []want
	}{
		{"clean", "acme/api", validHead + "      - repository: deploy\n        workflow: cd.yml\n        inputs: {sha: 'sha-{{ source.sha }}', run: '{{source.run_url}}'}\n", nil},
		{"self-dispatch bare name", "acme/api", validHead + "      - repository: api\n        workflow: .github/workflows/ci.yml\n", []want{{5, 9, RuleSelfDispatch, `target "api" workflow ".github/workflows/ci.yml" is the rule's own source workflow`}}},
		{"self-dispatch full name, other case", "acme/api", validHead + "      - repository: ACME/Api\n        workflow: CI.yml\n", []want{{5, 9, RuleSelfDispatch, `self_dispatch_blocked`}}},
		{"same repo other workflow is fine", "acme/api", validHead + "      - repository: api\n        workflow: release.yml\n", nil},
		{"self-dispatch skipped when repo unknown", "", validHead + "      - repository: acme/api\n        workflow: ci.yml\n", nil},
		{"duplicate target", "acme/api", validHead + "      - {repository: acme/web, workflow: cd.yml}\n      - {repository: web, workflow: .github/workflows/CD.yml, ref: other}\n", []want{{6, 9, RuleDuplicateTarget, `target "web" workflow ".github/workflows/CD.yml" is already listed at line 5 for source workflow "ci.yml"`}}},
		{"duplicate across rules with the same source", "", "outbound:\n  - source: {workflow: ci.yml}\n    targets: [{repository: a/b, workflow: w.yml}]\n  - source: {workflow: .github/workflows/ci.yml}\n    targets: [{repository: a/b, workflow: w.yml}]\n", []want{{5, 15, RuleDuplicateTarget, `already listed at line 3`}}},
		{"same target for different sources is fine", "", "outbound:\n  - source: {workflow: ci.yml}\n    targets: [{repository: a/b, workflow: w.yml}]\n  - source: {workflow: nightly.yml}\n    targets: [{repository: a/b, workflow: w.yml}]\n", nil},
		{"unknown template variable", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          sha: '{{ source.sha }}-{{ SOURCE.SHA }}'\n", []want{{8, 16, RuleUnknownTemplateVariable, `input "sha" uses the unknown template variable "SOURCE.SHA"; supported: source.sha, source.head_branch, source.run_id, source.run_url, source.repo, source.workflow`}}},
		{"github expression", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          sha: '${{ github.sha }}'\n", []want{{8, 16, RuleUnknownTemplateVariable, `are not evaluated by dispatcher`}}},
		{"not a token is literal", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          a: '{{ source-sha }} {{ a | b }} { x }'\n", nil},
		{"value too long", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          big: " + strings.Repeat("é", 1025) + "\n", []want{{8, 16, RuleInputValueTooLong, `input "big" is 1025 characters long`}}},
		{"value at the limit with tokens", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          big: " + strings.Repeat("x", 1024) + "{{ source.sha }}\n", nil},
		{"astral characters count twice", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          big: " + strings.Repeat("😀", 513) + "\n", []want{{8, 16, RuleInputValueTooLong, `is 1026 characters`}}},
		{"control character", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          note: \"a\\tb\"\n", []want{{8, 17, RuleInputControlCharacter, `input "note" contains the control character U+0009`}}},
		{"block scalar newline", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          note: |\n            text\n", []want{{8, 17, RuleInputControlCharacter, `a block scalar (| or >) keeps line breaks`}}},
		{"whitespace inside a token is not literal", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          sha: \"{{\\tsource.sha\\n}}\"\n", nil},
		{"C1 and U+2028 allowed", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          x: \"\\u0085\\u2028\"\n", nil},
		{"DEL", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n          x: \"\\x7f\"\n", []want{{8, 14, RuleInputControlCharacter, `U+007F`}}},
		{"too many inputs", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n" + manyInputs(26), []want{{5, 9, RuleTooManyInputs, `sends 26 inputs; GitHub accepts at most 25`}}},
		{"25 inputs is fine", "", validHead + "      - repository: a/b\n        workflow: w.yml\n        inputs:\n" + manyInputs(25), nil},
		{"duplicate accept_inputs", "", "inbound:\n  - source: {repository: a/b, workflow: ci.yml}\n    targets:\n      - workflow: w.yml\n        accept_inputs: [sha, env, sha]\n", []want{{5, 35, RuleDuplicateAcceptInput, `accept_inputs lists "sha" twice (first at line 5)`}}},
		{"target workflow without extension", "", validHead + "      - repository: acme/deploy\n        workflow: deploy\n", []want{{6, 19, RuleWorkflowNotAFile, `target "acme/deploy" workflow "deploy" is neither a workflow file name (.yml or .yaml) nor a numeric workflow id; GitHub's dispatch API needs one of them, so the dispatch would fail; did you mean "deploy.yml"?`}}},
		{"target workflow with another extension", "", validHead + "      - {repository: a/b, workflow: .github/workflows/deploy.sh}\n", []want{{5, 37, RuleWorkflowNotAFile, `workflow ".github/workflows/deploy.sh" is neither a workflow file name (.yml or .yaml) nor a numeric workflow id; GitHub's dispatch API needs one of them, so the dispatch would fail`}}},
		{"target workflow id, yaml, path and any case are fine", "", validHead + "      - {repository: a/b, workflow: \"161335\"}\n      - {repository: a/c, workflow: cd.yaml}\n      - {repository: a/d, workflow: .github/workflows/CD.YML}\n", nil},
		{"extension alone is not a file name", "", validHead + "      - {repository: a/b, workflow: .yml}\n", []want{{5, 37, RuleWorkflowNotAFile, `workflow ".yml" is neither`}}},
		{"outbound source workflow", "", "outbound:\n  - source:\n      workflow: ci\n    targets: [{repository: a/b, workflow: w.yml}]\n", []want{{3, 17, RuleWorkflowNotAFile, `source workflow "ci" is not a workflow file name; a run is matched by its workflow's file name, so this rule never fires; did you mean "ci.yml"?`}}},
		{"outbound source workflow id never matches", "", "outbound:\n  - source: {workflow: \"42\"}\n    targets: [{repository: a/b, workflow: w.yml}]\n", []want{{2, 24, RuleWorkflowNotAFile, `source workflow "42" is not a workflow file name; a run is matched by its workflow's file name, so this rule never fires`}}},
		{"inbound source workflow", "", "inbound:\n  - source: {repository: a/b, workflow: ci}\n    targets: [{workflow: w.yml}]\n", []want{{2, 41, RuleWorkflowNotAFile, `source workflow "ci" is not a workflow file name; the source's run is matched by its workflow's file name, so this rule never allows anything; did you mean "ci.yml"?`}}},
		{"inbound target workflow", "", "inbound:\n  - source: {repository: a/b, workflow: ci.yml}\n    targets:\n      - workflow: deploy\n      - workflow: \"161335\"\n", []want{{4, 19, RuleWorkflowNotAFile, `workflow "deploy" is neither a workflow file name (.yml or .yaml) nor a numeric workflow id; it only matches an outbound target that names the same, which GitHub cannot dispatch; did you mean "deploy.yml"?`}}},
		{"duplicate inbound workflow", "", "inbound:\n  - source: {repository: a/b, workflow: ci.yml}\n    targets:\n      - workflow: deploy.yml\n      - workflow: .github/workflows/deploy.yml\n        accept_inputs: [sha]\n", []want{{5, 9, RuleDuplicateInboundWorkflow, `workflow ".github/workflows/deploy.yml" is already listed in this inbound rule at line 4`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := Parse("dispatching.yml", []byte(tt.src))
			if cfg == nil {
				t.Fatalf("setup: file rejected:\n%s", dumpDiags(ds))
			}
			got := Lint("dispatching.yml", cfg, LintOptions{Repo: tt.repo})
			for _, d := range got {
				if d.Severity != SeverityWarning {
					t.Errorf("lint severity %q", d.Severity)
				}
			}
			checkDiags(t, got, tt.wants)
		})
	}
	if Lint("x", nil, LintOptions{}) != nil {
		t.Error("Lint(nil) returned diagnostics")
	}
}

func manyInputs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("          k" + strings.Repeat("x", i) + ": v\n")
	}
	return b.String()
}

func TestTemplateTokens(t *testing.T) {
	tests := []struct {
		value string
		want  []Token
	}{
		{"", nil},
		{"plain", nil},
		{"{{ source.sha }}", []Token{{Name: "source.sha", Start: 0, End: 16}}},
		{"{{source.sha}}", []Token{{Name: "source.sha", Start: 0, End: 14}}},
		{"sha-{{  source.sha  }}-{{source.repo}}", []Token{{Name: "source.sha", Start: 4, End: 22}, {Name: "source.repo", Start: 23, End: 38}}},
		{"{{{ source.sha }}}", []Token{{Name: "source.sha", Start: 1, End: 17}}},
		{"${{ github.sha }}", []Token{{Name: "github.sha", Start: 1, End: 17}}},
		{"{{ source-sha }}", nil},
		{"{{ a | upper }}", nil},
		{"{ x }", nil},
		{"{{\u00a0source.sha\u3000}}", []Token{{Name: "source.sha", Start: 0, End: 19}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, TemplateTokens(tt.value)); diff != "" {
			t.Errorf("TemplateTokens(%q) (-want +got):\n%s", tt.value, diff)
		}
	}
	if got := LiteralText("a{{ source.sha }}b{{x}}c"); got != "abc" {
		t.Errorf("LiteralText = %q", got)
	}
	for _, v := range TemplateVariables {
		if !IsTemplateVariable(v) {
			t.Errorf("IsTemplateVariable(%q) = false", v)
		}
	}
	if IsTemplateVariable("SOURCE.SHA") || len(TemplateVariables) != 6 {
		t.Error("variable set is not the six case-sensitive names")
	}
}

func TestWorkflowBase(t *testing.T) {
	for in, want := range map[string]string{".github/workflows/ci.yml": "ci.yml", "ci.yml": "ci.yml", "foo/ci.yml": "ci.yml", "a/b/": "b", "": "", "/": "/", "123": "123"} {
		if got := WorkflowBase(in); got != want {
			t.Errorf("WorkflowBase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSortDiagnostics(t *testing.T) {
	d := func(f string, l, c int, m string) Diagnostic {
		return Diagnostic{File: f, Line: l, Column: c, Rule: "r", Message: m, Severity: SeverityError}
	}
	got := SortDiagnostics([]Diagnostic{d("b", 1, 1, "x"), d("a", 2, 1, "x"), d("a", 1, 5, "x"), d("a", 1, 5, "x"), d("a", 1, 2, "y")})
	want := []Diagnostic{d("a", 1, 2, "y"), d("a", 1, 5, "x"), d("a", 2, 1, "x"), d("b", 1, 1, "x")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRulesCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || r.Summary == "" || (r.Severity != SeverityError && r.Severity != SeverityWarning) {
			t.Errorf("bad rule entry %+v", r)
		}
		seen[r.ID] = true
	}
	if len(seen) != 34 {
		t.Errorf("%d rules, want 34", len(seen))
	}
}
