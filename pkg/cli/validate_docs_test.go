package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// TestValidateDocsListRules checks that docs/validate.md documents every
// rule id with the anchor SARIF help links point to, and no rule that does
// not exist.
func TestValidateDocsListRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "validate.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	known := map[string]bool{}
	for _, r := range dispatching.Rules() {
		known[r.ID] = true
		row := `| <a id="rule-` + r.ID + `"></a>` + "`" + r.ID + "` | " + string(r.Severity) + " | "
		if !strings.Contains(doc, row) {
			t.Errorf("docs/validate.md has no row for rule %s (%s)", r.ID, r.Severity)
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		if id, ok := strings.CutPrefix(line, `| <a id="rule-`); ok {
			id, _, _ = strings.Cut(id, `"`)
			if !known[id] {
				t.Errorf("docs/validate.md documents unknown rule %q", id)
			}
		}
	}
}

// TestValidateDocsTextExample: the text example in docs/validate.md is
// what validate prints for the files under testdata/docs (an error in one
// file, a warning in another: warnings are only computed for valid files,
// so one file cannot show both).
func TestValidateDocsTextExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "validate.md"))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- pkg/cli TestValidateDocsTextExample"
	_, rest, ok := strings.Cut(string(data), marker)
	if !ok {
		t.Fatalf("docs/validate.md has no %q block", marker)
	}
	_, rest, _ = strings.Cut(rest, "```\n")
	want, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("docs/validate.md: the text example block is not closed")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "docs"))
	if err != nil {
		t.Fatal(err)
	}
	_, got, _ := runValidateIn(t, dir, "", "api", "web")
	if got != want {
		t.Errorf("docs/validate.md text example differs from validate's output:\n--- docs\n%s--- validate\n%s", want, got)
	}
}
