package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/internal/npmfixture"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
	"github.com/dispatcher-dev/dispatcher/schemas"
)

func init() {
	// Scripts reach the repository's examples/ folder as $EXAMPLES.
	scriptSetups = append(scriptSetups, func(env *testscript.Env) error {
		abs, err := filepath.Abs(filepath.Join("..", "..", "examples"))
		if err != nil {
			return err
		}
		env.Setenv("EXAMPLES", abs)
		return nil
	})
}

// runCLI runs the command line in-process with the given environment and
// stdin, and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	s := Streams{
		In:  strings.NewReader(stdin),
		Out: &out,
		Err: &errb,
		Getenv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		Getwd: os.Getwd,
	}
	code := Main(context.Background(), append([]string{"dispatcher"}, args...), s, BuildInfo{Version: "test"})
	return code, out.String(), errb.String()
}

// compilePlanSchema compiles schemas/plan.schema.json.
func compilePlanSchema(t *testing.T, ref string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Plan))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("plan.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("plan.schema.json" + ref)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateAgainst(t *testing.T, sch *jsonschema.Schema, out string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if err := sch.Validate(v); err != nil {
		t.Fatalf("output does not match the schema: %v\n%s", err, out)
	}
}

// The example world gives the documented decisions, and both JSON shapes
// match schemas/plan.schema.json.
func TestSimulateExampleWorld(t *testing.T) {
	world := filepath.Join("..", "..", "examples", "world")
	code, out, stderr := runCLI(t, nil, "", "simulate", "--world", world, "--repo", "acme/api", "--workflow", "ci.yml", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	validateAgainst(t, compilePlanSchema(t, ""), out)
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"acme/deploy cd.yml":    plan.ReasonAuthorized,
		"acme/web cd.yml":       plan.ReasonInputsNotAccepted,
		"acme/docs publish.yml": plan.ReasonAuthorized,
		"acme/infra plan.yml":   plan.ReasonInboundNotAuthorized,
		"acme/legacy sync.yml":  plan.ReasonInvalidTargetConfig,
		"acme/billing cd.yml":   plan.ReasonMissingTargetConfig,
		"acme/api ci.yml":       plan.ReasonSelfDispatchBlocked,
	}
	if len(p.Targets) != len(want) {
		t.Fatalf("%d targets, want %d: %+v", len(p.Targets), len(want), p.Targets)
	}
	for _, tg := range p.Targets {
		key := tg.Repository + " " + tg.Workflow
		if want[key] != tg.Reason {
			t.Errorf("%s: reason %q, want %q", key, tg.Reason, want[key])
		}
	}
	if got := p.Targets[2].Ref; got != "trunk" {
		t.Errorf("acme/docs ref = %q, want the per-target ref trunk", got)
	}

	code, out, stderr = runCLI(t, nil, "", "simulate", "--world", world, "--repo", "acme/api", "--workflow", "ci.yml", "--follow", "--format", "json")
	if code != 0 {
		t.Fatalf("--follow: exit %d, stderr: %s", code, stderr)
	}
	validateAgainst(t, compilePlanSchema(t, "#/$defs/follow"), out)
	var f struct {
		Steps    []plan.Plan `json:"steps"`
		Cycles   [][]string  `json:"cycles"`
		MaxDepth int         `json:"max_depth"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Steps) != 3 || f.MaxDepth != 2 {
		t.Errorf("--follow: %d steps, depth %d; want 3 steps (deploy, docs, smoke), depth 2", len(f.Steps), f.MaxDepth)
	}
	wantCycle := "acme/api:ci.yml acme/docs:publish.yml acme/api:ci.yml"
	if len(f.Cycles) != 1 || strings.Join(f.Cycles[0], " ") != wantCycle {
		t.Errorf("--follow cycles = %v, want [%s]", f.Cycles, wantCycle)
	}
}

// The chain depth limit stops --follow.
func TestSimulateFollowDepthLimit(t *testing.T) {
	world := filepath.Join("..", "..", "examples", "world")
	env := map[string]string{"DISPATCH_MAX_CHAIN_DEPTH": "1"}
	code, out, stderr := runCLI(t, env, "", "simulate", "--world", world, "--repo", "acme/api", "--workflow", "ci.yml", "--follow", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	if !strings.Contains(out, `"chain_depth_exceeded"`) {
		t.Errorf("with DISPATCH_MAX_CHAIN_DEPTH=1 the deploy → smoke edge should be chain_depth_exceeded:\n%s", out)
	}
}

// Real workflow_run payloads from @octokit/webhooks-examples drive
// simulate --event against a world holding their repository.
func TestSimulateRealWebhookPayloads(t *testing.T) {
	examples := npmfixture.WorkflowRunExamples(t)
	sch := compilePlanSchema(t, "")
	ran := 0
	{
		for i, raw := range examples {
			var hdr struct {
				Action     string `json:"action"`
				Repository struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
				Run struct {
					Path       *string `json:"path"`
					Conclusion *string `json:"conclusion"`
				} `json:"workflow_run"`
			}
			if err := json.Unmarshal(raw, &hdr); err != nil {
				t.Fatal(err)
			}
			owner, name, _ := strings.Cut(hdr.Repository.FullName, "/")
			dir := t.TempDir()
			wf := "test.yml"
			if hdr.Run.Path != nil {
				wf = filepath.Base(*hdr.Run.Path)
			}
			writeFile(t, filepath.Join(dir, owner, name, "dispatching.yml"),
				"outbound:\n  - source:\n      workflow: "+wf+"\n    targets:\n      - repository: deploy\n        workflow: cd.yml\n")
			writeFile(t, filepath.Join(dir, owner, "deploy", "dispatching.yml"),
				"inbound:\n  - source:\n      repository: "+name+"\n      workflow: "+wf+"\n    targets:\n      - workflow: cd.yml\n")
			evFile := filepath.Join(dir, "event.json")
			writeFile(t, evFile, string(raw))
			code, out, stderr := runCLI(t, map[string]string{"ALLOWED_SOURCE_CONCLUSIONS": ""}, "", "simulate", "--world", dir, "--event", evFile, "--format", "json")
			if code != 0 {
				t.Fatalf("example %d: exit %d: %s", i, code, stderr)
			}
			validateAgainst(t, sch, out)
			var p plan.Plan
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatal(err)
			}
			if p.Source.Repository != hdr.Repository.FullName {
				t.Errorf("example %d: source %q, want %q", i, p.Source.Repository, hdr.Repository.FullName)
			}
			// An example with a workflow path on its default branch
			// dispatches deploy; one without a path matches no rule.
			if hdr.Run.Path != nil && p.Eligible {
				if len(p.Dispatches()) != 1 {
					t.Errorf("example %d: want one dispatch to %s/deploy, got %+v", i, owner, p.Targets)
				}
			} else if p.Eligible {
				t.Errorf("example %d has no workflow path but is eligible: %+v", i, p)
			}
			ran++
		}
	}
	if ran == 0 {
		t.Fatal("no workflow_run examples found")
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
