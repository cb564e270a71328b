package dispatching

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/schemas"
)

// schemaDef returns the pattern and the "not" pattern of a $defs entry.
func schemaDef(t *testing.T, name string) (pattern, not *regexp.Regexp) {
	t.Helper()
	var doc struct {
		Defs map[string]struct {
			Pattern string `json:"pattern"`
			Not     struct {
				Pattern string `json:"pattern"`
			} `json:"not"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schemas.Dispatching, &doc); err != nil {
		t.Fatal(err)
	}
	d, ok := doc.Defs[name]
	if !ok || d.Pattern == "" || d.Not.Pattern == "" {
		t.Fatalf("schema $defs/%s has no pattern and not.pattern", name)
	}
	return regexp.MustCompile(d.Pattern), regexp.MustCompile(d.Not.Pattern)
}

func TestRepositoryNames(t *testing.T) {
	pat, not := schemaDef(t, "repository")
	long := strings.Repeat("a", 101)
	for _, tc := range []struct {
		repo      string
		bad, warn bool
	}{
		{repo: "api"},
		{repo: "acme/api"},
		{repo: "acme/.github"},
		{repo: "Acme-Corp/my_repo.v2"},
		{repo: "acme/" + strings.Repeat("a", 100)},
		{repo: strings.Repeat("o", 39) + "/x"},
		{repo: "acme/a b", bad: true},
		{repo: "..", bad: true},
		{repo: ".", bad: true},
		{repo: "../secret", bad: true},
		{repo: "acme/..", bad: true},
		{repo: "acme/x?y", bad: true},
		{repo: "acme/" + long, bad: true},
		{repo: long, bad: true},
		{repo: strings.Repeat("o", 40) + "/x", bad: true},
		{repo: "ac.me/x", bad: true},
		{repo: "acme/x/y", bad: true},
		{repo: "/x", bad: true},
		{repo: "acme/", bad: true},
		{repo: "acmé/x", bad: true},
		{repo: "-acme/x", warn: true},
		{repo: "acme-/x", warn: true},
		{repo: "ac--me/x", warn: true},
	} {
		problem := RepositoryProblem(tc.repo)
		if (problem != "") != tc.bad {
			t.Errorf("RepositoryProblem(%q) = %q, want a problem: %v", tc.repo, problem, tc.bad)
		}
		schemaOK := pat.MatchString(tc.repo) && !not.MatchString(tc.repo)
		if schemaOK == tc.bad {
			t.Errorf("schema accepts %q: %v, want %v (schema and RepositoryProblem disagree)", tc.repo, schemaOK, !tc.bad)
		}
		if w := RepositoryWarning(tc.repo); !tc.bad && (w != "") != tc.warn {
			t.Errorf("RepositoryWarning(%q) = %q, want a warning: %v", tc.repo, w, tc.warn)
		}
	}
}

func TestWorkflowNames(t *testing.T) {
	pat, not := schemaDef(t, "workflow")
	for _, tc := range []struct {
		wf        string
		bad, warn bool
	}{
		{wf: "ci.yml"},
		{wf: ".github/workflows/ci.yml"},
		{wf: "./.github/workflows/ci.yml"},
		{wf: "12345"},
		{wf: "..", bad: true},
		{wf: "../..", bad: true},
		{wf: "a/.", bad: true},
		{wf: "../", bad: true},
		{wf: "ci\x00.yml", bad: true},
		{wf: "ci\n.yml", bad: true},
		{wf: "a/b.yml", warn: true},
		{wf: "../x.yml", warn: true},
		{wf: ".github/workflows/sub/x.yml", warn: true},
		{wf: "x y.yml", warn: true},
		{wf: "x?y.yml", warn: true},
	} {
		problem := WorkflowProblem(tc.wf)
		if (problem != "") != tc.bad {
			t.Errorf("WorkflowProblem(%q) = %q, want a problem: %v", tc.wf, problem, tc.bad)
		}
		schemaOK := pat.MatchString(tc.wf) && !not.MatchString(tc.wf)
		if schemaOK == tc.bad {
			t.Errorf("schema accepts %q: %v, want %v (schema and WorkflowProblem disagree)", tc.wf, schemaOK, !tc.bad)
		}
		if w := WorkflowWarning(tc.wf); !tc.bad && (w != "") != tc.warn {
			t.Errorf("WorkflowWarning(%q) = %q, want a warning: %v", tc.wf, w, tc.warn)
		}
	}
}

// TestNamesInFiles: Parse reports impossible names as errors of their own
// rule, Lint the suspicious ones as warnings.
func TestNamesInFiles(t *testing.T) {
	_, ds := Parse("d.yml", []byte("outbound:\n  - source: {workflow: ci.yml}\n    targets:\n      - {repository: \"acme/a b\", workflow: ../..}\n"))
	rules := map[string]bool{}
	for _, d := range ds {
		rules[d.Rule] = d.Severity == SeverityError
	}
	if !rules[RuleRepositoryFormat] || !rules[RuleWorkflowFormat] {
		t.Errorf("Parse diagnostics = %+v, want repository-format and workflow-format errors", ds)
	}
	cfg, ds := Parse("d.yml", []byte("outbound:\n  - source: {workflow: ci.yml}\n    targets:\n      - {repository: acme/x, workflow: a/b.yml}\n"))
	if cfg == nil {
		t.Fatalf("valid file rejected: %+v", ds)
	}
	ws := Lint("d.yml", cfg, LintOptions{})
	if len(ws) != 1 || ws[0].Rule != RuleSuspiciousName || ws[0].Line != 4 {
		t.Errorf("Lint = %+v, want one suspicious-name warning on line 4", ws)
	}
}
