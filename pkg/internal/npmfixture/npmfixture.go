// Package npmfixture gives tests the published GitHub material that the
// test npm packages carry (installed by `make test` under .ci/node_modules):
// @octokit/webhooks-examples and @octokit/openapi.
//
// Outside CI a missing install skips the calling test with a hint; under
// CI=true it fails it, so CI can never pass without running these tests.
package npmfixture

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Dir returns .ci/node_modules of the repository, found by walking up from
// the test's working directory (the package folder).
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "node_modules")
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("npmfixture: no go.mod above %s", wd)
		}
	}
}

// Path returns the file rel under .ci/node_modules, skipping (or, in CI,
// failing) the test when it is not installed.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (make test installs the test npm packages): %v", rel, err)
		}
		t.Skipf("%s is not installed (run make test, or npm ci in .ci): %v", rel, err)
	}
	return p
}

var (
	examplesOnce sync.Once
	examples     []json.RawMessage
	examplesErr  error
)

// WorkflowRunExamples returns GitHub's workflow_run webhook examples from
// @octokit/webhooks-examples, in the package's order.
func WorkflowRunExamples(t testing.TB) []json.RawMessage {
	t.Helper()
	p := Path(t, "@octokit/webhooks-examples/api.github.com/index.json")
	examplesOnce.Do(func() {
		var data []byte
		data, examplesErr = os.ReadFile(p)
		if examplesErr != nil {
			return
		}
		var index []struct {
			Name     string            `json:"name"`
			Examples []json.RawMessage `json:"examples"`
		}
		if examplesErr = json.Unmarshal(data, &index); examplesErr != nil {
			return
		}
		for _, e := range index {
			if e.Name == "workflow_run" {
				examples = append(examples, e.Examples...)
			}
		}
	})
	if examplesErr != nil {
		t.Fatalf("@octokit/webhooks-examples: %v", examplesErr)
	}
	if len(examples) == 0 {
		t.Fatal("@octokit/webhooks-examples has no workflow_run examples")
	}
	return examples
}
