package world

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// RunSpec describes a synthesised completed run.
type RunSpec struct {
	Repository string // "owner/name"
	Workflow   string // file name, e.g. "ci.yml"
	Branch     string // "" = the repository's default branch
	Conclusion string // "" = success
	SHA        string // "" = a stable fake derived from repository and workflow
	RunID      int64  // 0 = 1
}

// Event synthesises the workflow_run event GitHub would send for spec. The
// repository's default branch comes from repo.yml (default "main"); a
// repository that is not in the folder is an error.
func (w *World) Event(spec RunSpec) (plan.Event, error) {
	r := w.Repo(spec.Repository)
	if r == nil {
		return plan.Event{}, fmt.Errorf("--repo %s: not in the world folder %s (expected %s/<owner>/<repo>/)", spec.Repository, w.Dir, w.Dir)
	}
	if spec.Workflow == "" {
		return plan.Event{}, fmt.Errorf("--workflow: expected a workflow file name such as ci.yml")
	}
	branch := spec.Branch
	if branch == "" {
		branch = r.DefaultBranch
	}
	conclusion := spec.Conclusion
	if conclusion == "" {
		conclusion = "success"
	}
	sha := spec.SHA
	if sha == "" {
		sum := sha1.Sum([]byte(strings.ToLower(r.FullName()) + "#" + spec.Workflow))
		sha = hex.EncodeToString(sum[:])
	}
	id := spec.RunID
	if id == 0 {
		id = 1
	}
	wfPath := spec.Workflow
	if !strings.Contains(wfPath, "/") {
		wfPath = path.Join(".github/workflows", wfPath)
	}
	return plan.Event{
		Action:     "completed",
		Repository: plan.Repository{Owner: r.Owner, Name: r.Name, DefaultBranch: r.DefaultBranch},
		Run: plan.Run{
			ID: id, RunAttempt: 1, Path: wfPath, HeadBranch: &branch, HeadSHA: sha,
			HTMLURL:                fmt.Sprintf("https://github.com/%s/actions/runs/%d", r.FullName(), id),
			Conclusion:             conclusion,
			HeadRepositoryFullName: r.FullName(),
		},
	}, nil
}

// FollowResult is the dispatch graph reached from one run, as if every
// dispatched run succeeded. Its JSON form is described by
// schemas/plan.schema.json.
type FollowResult struct {
	Root plan.Plan `json:"root"`
	// Steps are the plans of the dispatched runs, breadth first.
	Steps []plan.Plan `json:"steps"`
	// Cycles are the dispatch cycles found, each a list of
	// "owner/name:workflow" from the first repeated node back to itself.
	Cycles [][]string `json:"cycles"`
	// MaxDepth is the longest chain of dispatches reached (the root run is
	// depth 0, a run it dispatches depth 1).
	MaxDepth int `json:"max_depth"`
	// Truncated is set when the walk stopped at MaxSteps.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxSteps bounds a Follow walk (a wide fan-out can grow quickly).
const MaxSteps = 1000

// Follow builds the plan of the run ev and then, breadth first, the plan of
// every run it would dispatch, as if each dispatched run succeeded on its
// dispatch ref. The engine's own chain checks (dispatch_cycle,
// chain_depth_exceeded) end the walk; cycles found are reported.
func (w *World) Follow(ctx context.Context, ev plan.Event, policy plan.Policy) FollowResult {
	type node struct {
		ev    plan.Event
		chain []plan.ChainLink
	}
	rootLink := plan.ChainLink{Repository: ev.Repository.FullName(), Workflow: path.Base(ev.Run.Path)}
	res := FollowResult{Steps: []plan.Plan{}, Cycles: [][]string{}}
	queue := []node{{ev: ev, chain: []plan.ChainLink{rootLink}}}
	first := true
	nextID := ev.Run.ID
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			break
		}
		n := queue[0]
		queue = queue[1:]
		src := w.Lookup(ctx, n.ev.Repository.FullName())
		p := plan.Build(ctx, plan.Input{Event: n.ev, Source: src, Targets: w, Policy: policy, Chain: n.chain})
		if first {
			res.Root = p
			first = false
		} else {
			res.Steps = append(res.Steps, p)
		}
		if d := len(n.chain) - 1; d > res.MaxDepth {
			res.MaxDepth = d
		}
		for _, t := range p.Targets {
			link := plan.ChainLink{Repository: t.Repository, Workflow: t.Workflow}
			if t.Decision != plan.DecisionDispatch {
				if t.Reason == plan.ReasonDispatchCycle {
					res.Cycles = append(res.Cycles, cycleOf(n.chain, link))
				}
				continue
			}
			if len(res.Steps)+len(queue)+1 >= MaxSteps {
				res.Truncated = true
				continue
			}
			nextID++
			next, err := w.Event(RunSpec{Repository: t.Repository, Workflow: t.Workflow, Branch: t.Ref, SHA: n.ev.Run.HeadSHA, RunID: nextID})
			if err != nil {
				continue // a target outside the folder: its plan cannot be built
			}
			chain := append(append([]plan.ChainLink{}, n.chain...), link)
			queue = append(queue, node{ev: next, chain: chain})
		}
	}
	return res
}

// cycleOf returns the part of chain from the first occurrence of link,
// closed with link again.
func cycleOf(chain []plan.ChainLink, link plan.ChainLink) []string {
	start := 0
	for i, c := range chain {
		if strings.EqualFold(c.Repository, link.Repository) && c.Workflow == link.Workflow {
			start = i
			break
		}
	}
	var out []string
	for _, c := range chain[start:] {
		out = append(out, c.Repository+":"+c.Workflow)
	}
	return append(out, link.Repository+":"+link.Workflow)
}
