package world

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// writeTree creates files (path → content) under a temporary folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadLookupOrderAndStatuses(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"acme/root/dispatching.yml":              "outbound: []\n",
		"acme/root/.github/dispatching.yml":      "this is not: [valid\n",
		"acme/nested/.github/dispatching.yml":    "inbound: []\n",
		"acme/empty/dispatching.yml":             "",
		"acme/empty/.github/dispatching.yml":     "inbound: []\n",
		"acme/bad/dispatching.yml":               "outbound: not-a-list\n",
		"acme/none/README.md":                    "no config here\n",
		"acme/meta/repo.yml":                     "default_branch: trunk\n",
		"acme/meta/.github/workflows/cd.yml":     "on:\n  workflow_dispatch:\n    inputs:\n      sha:\n        type: string\n",
		"acme/meta/.github/workflows/ci.yaml":    "on: [push, pull_request]\n",
		"acme/meta/.github/workflows/manual.yml": "on: workflow_dispatch\n",
		"acme/meta/.github/workflows/notes.txt":  "ignored",
		"acme/meta/.github/workflows/broken.yml": "on: [\n",
	})
	w, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		repo     string
		want     plan.ConfigStatus
		wantPath string
	}{
		{"acme/root", plan.ConfigFound, "acme/root/dispatching.yml"},
		{"ACME/Root", plan.ConfigFound, "acme/root/dispatching.yml"},
		{"acme/nested", plan.ConfigFound, "acme/nested/.github/dispatching.yml"},
		{"acme/empty", plan.ConfigMissing, "acme/empty/dispatching.yml"},
		{"acme/bad", plan.ConfigInvalid, "acme/bad/dispatching.yml"},
		{"acme/none", plan.ConfigMissing, "acme/none/dispatching.yml"},
		{"other/absent", plan.ConfigMissing, "other/absent/dispatching.yml"},
	}
	for _, tt := range tests {
		got := w.Lookup(context.Background(), tt.repo)
		if got.Status != tt.want || got.Path != tt.wantPath {
			t.Errorf("Lookup(%s) = status %d path %q (%s), want status %d path %q", tt.repo, got.Status, got.Path, got.Problem, tt.want, tt.wantPath)
		}
	}
	if bad := w.Lookup(context.Background(), "acme/bad"); !strings.Contains(bad.Problem, "line 1") {
		t.Errorf("invalid config problem = %q, want the line of the first error", bad.Problem)
	}

	meta := w.Repo("acme/meta")
	if meta.DefaultBranch != "trunk" {
		t.Errorf("default branch = %q, want trunk", meta.DefaultBranch)
	}
	if got := w.Repo("acme/root").DefaultBranch; got != "main" {
		t.Errorf("default branch without repo.yml = %q, want main", got)
	}
	cd := meta.Workflows["cd.yml"]
	if cd == nil || !cd.Dispatchable || !cd.Inputs["sha"] {
		t.Errorf("cd.yml = %+v, want dispatchable with input sha", cd)
	}
	if ci := meta.Workflows["ci.yaml"]; ci == nil || ci.Dispatchable {
		t.Errorf("ci.yaml = %+v, want present and not dispatchable", ci)
	}
	if m := meta.Workflows["manual.yml"]; m == nil || !m.Dispatchable {
		t.Errorf("manual.yml = %+v, want dispatchable", m)
	}
	if b := meta.Workflows["broken.yml"]; b == nil || b.Problem == "" {
		t.Errorf("broken.yml = %+v, want a problem", b)
	}
	if _, ok := meta.Workflows["notes.txt"]; ok {
		t.Error("notes.txt was read as a workflow")
	}
	if n := len(w.Repos()); n != 6 {
		t.Errorf("Repos() has %d repos, want 6", n)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Load of a missing folder succeeded")
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no repositories") {
		t.Errorf("Load of an empty folder: err = %v, want 'no repositories'", err)
	}
	dir := writeTree(t, map[string]string{"acme/x/repo.yml": "default_branch: main\nextra: 1\n"})
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "repo.yml") {
		t.Errorf("Load with a bad repo.yml: err = %v, want it to name repo.yml", err)
	}
	big := writeTree(t, map[string]string{"acme/x/dispatching.yml": "# " + strings.Repeat("x", 70<<10) + "\n"})
	w, err := Load(big)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Lookup(context.Background(), "acme/x"); got.Status != plan.ConfigInvalid || !strings.Contains(got.Problem, "limit") {
		t.Errorf("oversized file = %+v, want invalid naming the limit", got)
	}
}

// Required inputs are those with required: true and no default; the
// workflows folder is recorded so checks can tell "absent" from "not copied".
func TestWorkflowInputsRequired(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"acme/a/.github/workflows/cd.yml": `on:
  workflow_dispatch:
    inputs:
      sha:
        required: true
      env:
        required: true
        default: staging
      note:
        required: false
      plain:
      quoted:
        required: "true"
`,
		"acme/b/dispatching.yml":         "inbound: []\n",
		"acme/c/.github/workflows/.keep": "",
	})
	w, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cd := w.Repo("acme/a").Workflows["cd.yml"]
	if cd == nil {
		t.Fatal("cd.yml not read")
	}
	for _, in := range []string{"sha", "env", "note", "plain", "quoted"} {
		if !cd.Inputs[in] {
			t.Errorf("input %s not declared", in)
		}
	}
	tests := []struct {
		input string
		want  bool
	}{
		{"sha", true},
		{"env", false},    // a default fills it in
		{"note", false},   // required: false
		{"plain", false},  // no spec at all
		{"quoted", false}, // GitHub wants a boolean
	}
	for _, tt := range tests {
		if got := cd.Required[tt.input]; got != tt.want {
			t.Errorf("Required[%s] = %v, want %v", tt.input, got, tt.want)
		}
	}
	for repo, want := range map[string]bool{"acme/a": true, "acme/b": false, "acme/c": true} {
		if got := w.Repo(repo).HasWorkflowsDir; got != want {
			t.Errorf("%s HasWorkflowsDir = %v, want %v", repo, got, want)
		}
	}
}

// TestRepoMetaErrors: a bad repo.yml names the file, line and column, the
// key and what was expected, never Go's unmarshalling internals.
func TestRepoMetaErrors(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"default_branch: [a]\n", `repo.yml:1:17: default_branch must be a branch name (a non-empty string, e.g. main), got a list`},
		{"default_branch: 2024\n", `repo.yml:1:17: default_branch must be a branch name (a non-empty string, e.g. main), got a number (quote it to make it a branch name)`},
		{"default_branch:\n", `repo.yml:1:17: default_branch must be a branch name (a non-empty string, e.g. main), got nothing (null)`},
		{"default_branch: \"\"\n", `got an empty string`},
		{"# c\ndefualt_branch: main\n", `repo.yml:2:1: unknown key "defualt_branch" (repo.yml has only default_branch)`},
		{"- main\n", `repo.yml:1:1: expected a mapping such as "default_branch: main", got a list`},
		{"default_branch: [\n", `repo.yml:1:17: not valid YAML:`},
	} {
		dir := writeTree(t, map[string]string{"acme/x/repo.yml": tc.yml})
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("repo.yml %q: err = %v, want %q", tc.yml, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go struct") || strings.Contains(err.Error(), "interface {}")) {
			t.Errorf("repo.yml %q: error shows Go internals: %v", tc.yml, err)
		}
	}
	for yml, want := range map[string]string{"": "main", "# only a comment\n": "main", "default_branch: on\n": "on", "default_branch: trunk # c\n": "trunk"} {
		w, err := Load(writeTree(t, map[string]string{"acme/x/repo.yml": yml}))
		if err != nil {
			t.Errorf("repo.yml %q: %v", yml, err)
			continue
		}
		if got := w.Repo("acme/x").DefaultBranch; got != want {
			t.Errorf("repo.yml %q: default branch %q, want %q", yml, got, want)
		}
	}
}
