package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
	"github.com/dispatcher-dev/dispatcher/pkg/world"
)

// maxEventSize caps a webhook payload read by --event (GitHub's own cap).
const maxEventSize = 25 << 20

// simulateConclusions are the conclusions GitHub gives a completed workflow
// run; --conclusion takes one of them.
var simulateConclusions = []string{"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "stale", "startup_failure"}

type simulateOptions struct {
	world      string
	event      string
	repo       string
	workflow   string
	branch     string
	conclusion string
	sha        string
	follow     bool
	format     string
}

func newSimulateCmd(s Streams) *cobra.Command {
	o := &simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate --world DIR (--event FILE | --repo OWNER/NAME --workflow FILE)",
		Short: "Run the planner offline against a folder of repositories",
		Long: `Run the real decision engine offline against a folder of repositories and
print what would be dispatched and why everything else would not.

The world folder holds repositories as DIR/<owner>/<repo>/ with their
dispatching.yml (or .github/dispatching.yml), optional .github/workflows/ and an
optional repo.yml (default_branch). The source run is either a real
workflow_run webhook payload (--event, "-" for stdin) or synthesised from
--repo and --workflow (with --branch, --conclusion and --sha, which are
refused with --event: the payload gives them). Guardrails come from the same environment variables the
service reads (ENFORCE_SOURCE_DEFAULT_BRANCH, TARGET_REPO_ALLOWLIST, ...).

With --follow, every dispatched run is assumed to succeed and its own
dispatches are planned in turn, reporting cycles and the maximum depth (the
walk stops at DISPATCH_MAX_CHAIN_DEPTH).`,
		Example: `  dispatcher simulate --world examples/world --repo acme/api --workflow ci.yml
  dispatcher simulate --world examples/world --repo acme/api --workflow ci.yml --follow --format mermaid
  dispatcher simulate --world ~/src/acme --event payload.json --format json`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.world, "world", "", "folder of repositories: `DIR`/<owner>/<repo>/dispatching.yml (required)")
	f.StringVar(&o.event, "event", "", "workflow_run webhook payload `FILE` (\"-\" for stdin)")
	f.StringVar(&o.repo, "repo", "", "source repository `OWNER/NAME` (synthesised event)")
	f.StringVar(&o.workflow, "workflow", "", "source workflow `FILE`, e.g. ci.yml (synthesised event)")
	f.StringVar(&o.branch, "branch", "", "head `BRANCH` of the synthesised run (default: the repository's default branch)")
	f.StringVar(&o.conclusion, "conclusion", "success", "`CONCLUSION` of the synthesised run: "+usageJoinOr(simulateConclusions))
	f.StringVar(&o.sha, "sha", "", "head `SHA` of the synthesised run (default: a stable fake)")
	f.BoolVar(&o.follow, "follow", false, "expand dispatched targets transitively, as if each dispatched run succeeded")
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: text, json or mermaid")
	_ = cmd.MarkFlagRequired("world")
	cmd.MarkFlagsMutuallyExclusive("event", "repo")
	cmd.MarkFlagsMutuallyExclusive("event", "workflow")
	return cmd
}

func runSimulate(cmd *cobra.Command, s Streams, o *simulateOptions) error {
	switch o.format {
	case "text", "json", "mermaid":
	default:
		return usageErrorf("--format: unknown format %q (expected text, json or mermaid)", o.format)
	}
	if o.event != "" {
		// The payload describes the run; flags that would describe it too
		// are refused rather than silently ignored.
		for _, name := range []string{"branch", "sha", "conclusion"} {
			if cmd.Flags().Changed(name) {
				return usageErrorf("simulate: --%s cannot be used with --event: the payload's workflow_run gives the run's head branch, head sha and conclusion (edit the payload, or synthesise the run with --repo, --workflow and --%s)", name, name)
			}
		}
	}
	if o.event == "" && (o.repo == "" || o.workflow == "") {
		return usageErrorf("simulate needs --event FILE, or --repo OWNER/NAME with --workflow FILE")
	}
	if o.repo != "" && strings.Count(o.repo, "/") != 1 {
		return usageErrorf("--repo %q: expected OWNER/NAME", o.repo)
	}
	if !slices.Contains(simulateConclusions, o.conclusion) {
		return usageErrorf("--conclusion %q: expected one of GitHub's run conclusions: %s", o.conclusion, usageJoinOr(simulateConclusions))
	}
	cfg, err := settings.Load(s.Getenv)
	if err != nil {
		return &UsageError{Err: err}
	}
	policy := cfg.Policy()
	w, err := world.Load(o.world)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("--world %w", err)}
	}
	var ev plan.Event
	if o.event != "" {
		data, err := readInput(s, o.event, maxEventSize)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--event %w", err)}
		}
		if err := simulateCheckJSON(o.event, data); err != nil {
			return &UsageError{Err: fmt.Errorf("--event %s: %w", o.event, err)}
		}
		ev, err = plan.ParseEvent(data)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--event %s: %w", o.event, err)}
		}
	} else {
		ev, err = w.Event(world.RunSpec{Repository: o.repo, Workflow: o.workflow, Branch: o.branch, Conclusion: o.conclusion, SHA: o.sha})
		if err != nil {
			return &UsageError{Err: err}
		}
	}
	ctx := cmd.Context()
	st := newPlanStyles(s.Out, s.Color(s.OutTTY))
	st.width = s.TermWidth()
	if !o.follow {
		p := plan.Build(ctx, plan.Input{Event: ev, Source: w.Lookup(ctx, ev.Repository.FullName()), Targets: w, Policy: policy})
		switch o.format {
		case "json":
			return writeJSON(s.Out, p)
		case "mermaid":
			renderMermaid(s.Out, []plan.Plan{p})
		default:
			renderPlanText(s.Out, p, st)
		}
		return nil
	}
	r := w.Follow(ctx, ev, policy)
	switch o.format {
	case "json":
		return writeJSON(s.Out, r)
	case "mermaid":
		renderMermaid(s.Out, append([]plan.Plan{r.Root}, r.Steps...))
	default:
		renderFollowText(s.Out, r, st)
	}
	return nil
}

// simulateCheckJSON says plainly when a --event file is not JSON at all
// (often a YAML file: a workflow or dispatching.yml given by mistake) or is
// JSON but not an object, before the payload is decoded.
func simulateCheckJSON(name string, data []byte) error {
	const want = "expected a workflow_run webhook payload, the JSON body GitHub posts (e.g. examples/webhook/workflow_run.json)"
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		where := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := simulateLineCol(data, se.Offset)
			where = fmt.Sprintf(" (line %d, column %d: %s)", line, col, se.Error())
		}
		lower := strings.ToLower(name)
		if strings.HasSuffix(lower, ".yml") || strings.HasSuffix(lower, ".yaml") || simulateLooksYAML(data) {
			return fmt.Errorf("not JSON%s; this looks like YAML, and a YAML file is not a webhook payload: %s", where, want)
		}
		return fmt.Errorf("not JSON%s: %s", where, want)
	}
	if _, ok := v.(map[string]any); !ok {
		kind := "an array"
		switch v.(type) {
		case nil:
			kind = "null"
		case bool:
			kind = "a boolean"
		case float64:
			kind = "a number"
		case string:
			kind = "a string"
		}
		return fmt.Errorf("is JSON but %s, not an object: %s", kind, want)
	}
	return nil
}

// simulateLineCol turns a byte offset (as json.SyntaxError gives it, just
// past the bad byte) into a 1-based line and column.
func simulateLineCol(data []byte, offset int64) (int, int) {
	offset = max(min(offset, int64(len(data))), 1)
	before := data[:offset-1]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len([]rune(string(before[bytes.LastIndexByte(before, '\n')+1:]))) + 1
	return line, col
}

// simulateLooksYAML reports whether data starts like a YAML mapping or
// document ("key:", "---", "- item") rather than like JSON.
func simulateLooksYAML(data []byte) bool {
	t := strings.TrimSpace(string(data))
	if strings.HasPrefix(t, "---") || strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "#") {
		return true
	}
	first, _, _ := strings.Cut(t, "\n")
	k, _, ok := strings.Cut(first, ":")
	return ok && k != "" && !strings.ContainsAny(k, "{}[]\"")
}

// readInput reads a webhook payload file, or stdin for "-", refusing more
// than limit bytes. Errors start with the name: "payload.json: is a
// directory (expected a workflow_run webhook payload file)".
func readInput(s Streams, name string, limit int64) ([]byte, error) {
	var r io.Reader
	what := "the file"
	if name == "-" {
		r = s.In
		what = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, validateFSCause(err))
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s: is a directory (expected a workflow_run webhook payload file)", name)
		}
		r = f
	}
	if r == nil {
		return nil, fmt.Errorf("%s: no standard input", name)
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, validateFSCause(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %s is larger than %d MiB, GitHub's limit for a webhook payload", name, what, limit>>20)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: %s is empty (expected a workflow_run webhook payload)", name, what)
	}
	return data, nil
}
