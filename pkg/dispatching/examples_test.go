package dispatching

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// expectInvalidRE marks an example that is broken on purpose, e.g. to show
// invalid_target_config in the world folder: a comment line
// "# expect-invalid: RULE" anywhere in the file.
var expectInvalidRE = regexp.MustCompile(`(?m)^#\s*expect-invalid:\s*([a-z-]+)\s*$`)

// knownInvalidExamples are deliberately invalid examples that carry no
// marker comment, with the rule they must break.
var knownInvalidExamples = map[string]string{
	"examples/world/acme/legacy/dispatching.yml": RuleUnknownKey,
}

// TestExamples validates every examples/*.yml and every dispatching.yml
// below examples/ (the world folder included): each must parse and lint
// clean, or break exactly the rule it is marked with.
func TestExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	var files []string
	top, err := filepath.Glob(filepath.Join(root, "examples", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, top...)
	err = filepath.WalkDir(filepath.Join(root, "examples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "dispatching.yml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) < 5 {
		t.Fatalf("found %d top-level examples, want at least 5", len(top))
	}
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			wantRule := knownInvalidExamples[rel]
			if m := expectInvalidRE.FindSubmatch(data); m != nil {
				wantRule = string(m[1])
			}
			cfg, ds := Parse(rel, data)
			if wantRule != "" {
				if cfg != nil || len(ds) == 0 || ds[0].Rule != wantRule {
					t.Fatalf("expected to break %s, got:\n%s", wantRule, dumpDiags(ds))
				}
				return
			}
			if cfg == nil {
				t.Fatalf("invalid:\n%s", dumpDiags(ds))
			}
			// The world folder shows denials on purpose (a self-dispatch,
			// for one), so only the stand-alone examples must lint clean.
			if strings.HasPrefix(rel, "examples/world/") {
				return
			}
			if ws := Lint(rel, cfg, LintOptions{Repo: "acme/example"}); len(ws) > 0 {
				t.Errorf("lint warnings:\n%s", dumpDiags(ws))
			}
			if !strings.Contains(string(data), "# yaml-language-server: $schema="+SchemaID) {
				t.Errorf("no yaml-language-server $schema line for %s", SchemaID)
			}
		})
	}
}
