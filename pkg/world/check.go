package world

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// MaxCycles bounds the dispatch cycles Check reports; the last one reported
// says so when more were left out.
const MaxCycles = 100

// maxCycleSteps bounds the cycle search (elementary cycles can be many).
const maxCycleSteps = 1_000_000

// Check runs the cross-repository checks over the folder and returns their
// findings, all warnings, in no particular order:
//
//   - unauthorized-target: an outbound target that the target repository
//     would deny, exactly as simulate decides it (missing_target_config,
//     invalid_target_config, target_config_unreadable,
//     inbound_not_authorized, inputs_not_accepted);
//   - unused-inbound-rule: an inbound rule (or one of its targets) that no
//     outbound rule of its source repository uses, when that repository is
//     in the folder;
//   - unknown-target-workflow and target-not-dispatchable: a target workflow
//     missing from the target's .github/workflows folder, or present without
//     on: workflow_dispatch (only when the target is in the folder and has
//     that folder);
//   - undeclared-input and missing-required-input: inputs sent that the
//     target workflow does not declare, and required inputs not sent;
//   - dispatch-cycle: authorised dispatches that loop, once per cycle, at
//     the outbound target that closes it.
//
// Outbound findings are positioned at the outbound target (undeclared-input
// at the input's key) in the source repository's file; unused-inbound-rule
// at the inbound rule (or target entry) in the target repository's file.
// File names are the repositories' ConfigFile paths. Targets the engine
// stops before authorisation for reasons a per-file check already reports
// (self_dispatch_blocked, duplicate_target) are skipped; operator policy
// (allowlists, caps) is not applied.
func (w *World) Check() []dispatching.Diagnostic {
	c := &checker{w: w, edges: map[string][]edge{}, labels: map[string]string{}}
	for _, r := range w.Repos() {
		if r.Config.Status != plan.ConfigFound || r.Config.Config == nil {
			continue
		}
		c.outbound(r)
		c.inbound(r)
	}
	c.cycles()
	return c.diags
}

// edge is an authorised dispatch from one workflow to another.
type edge struct {
	to   string // node key
	file string
	pos  dispatching.Pos
}

type checker struct {
	w     *World
	diags []dispatching.Diagnostic
	// edges by source node key ("owner/name#workflow", repository
	// lower-cased), in file order; labels are the nodes' display names.
	edges  map[string][]edge
	labels map[string]string
}

func nodeKey(repo, workflow string) string { return strings.ToLower(repo) + "#" + workflow }

func (c *checker) warn(file string, pos dispatching.Pos, rule, format string, args ...any) {
	c.diags = append(c.diags, dispatching.Diagnostic{
		File: file, Line: max(pos.Line, 1), Column: max(pos.Column, 1),
		Severity: dispatching.SeverityWarning, Rule: rule, Message: fmt.Sprintf(format, args...),
	})
}

// displayName is the repository's name as the folder spells it when it is
// in the folder, else as written.
func (c *checker) displayName(repo string) string {
	if r := c.w.Repo(repo); r != nil {
		return r.FullName()
	}
	return repo
}

// outbound checks every outbound target of r, grouped by source workflow
// the way the engine matches them.
func (c *checker) outbound(r *Repo) {
	cfg := r.Config.Config
	done := map[string]bool{}
	for _, rule := range cfg.Outbound {
		wf := dispatching.WorkflowBase(rule.Source.Workflow)
		if done[wf] {
			continue
		}
		done[wf] = true
		from := nodeKey(r.FullName(), wf)
		c.labels[from] = r.FullName() + " " + wf
		seen := map[string]bool{}
		for _, cand := range plan.MatchOutbound(cfg, r.Owner, wf) {
			key := strings.ToLower(cand.Repository()) + "#" + strings.ToLower(cand.Workflow)
			if seen[key] {
				continue // duplicate_target: the duplicate-target lint reports it
			}
			if strings.EqualFold(cand.Repository(), r.FullName()) && strings.EqualFold(cand.Workflow, wf) {
				continue // self_dispatch_blocked: the self-dispatch lint reports it
			}
			seen[key] = true
			if c.target(r, wf, cand) {
				to := nodeKey(cand.Repository(), cand.Workflow)
				c.labels[to] = c.displayName(cand.Repository()) + " " + cand.Workflow
				c.edges[from] = append(c.edges[from], edge{to: to, file: r.ConfigFile, pos: cand.Pos})
			}
		}
	}
}

// target checks one outbound target of source workflow wf in r and reports
// whether the target repository authorises it.
func (c *checker) target(r *Repo, wf string, cand plan.Candidate) bool {
	file := r.ConfigFile
	name := c.displayName(cand.Repository())
	what := name + " " + cand.Workflow
	keys := make([]string, 0, len(cand.Inputs))
	for _, in := range cand.Inputs {
		keys = append(keys, in.Key)
	}
	slices.Sort(keys)

	tr := c.w.Repo(cand.Repository())
	res := c.w.Lookup(context.Background(), cand.Repository())
	authorized := false
	switch {
	case tr == nil:
		c.warn(file, cand.Pos, dispatching.RuleUnauthorizedTarget,
			"%s would be denied (%s): %s is not in the world folder, so it has no dispatching.yml and allows no inbound dispatch",
			what, plan.ReasonMissingTargetConfig, cand.Repository())
	case res.Status == plan.ConfigMissing:
		c.warn(file, cand.Pos, dispatching.RuleUnauthorizedTarget,
			"%s would be denied (%s): %s has no dispatching.yml (%s), so it allows no inbound dispatch",
			what, plan.ReasonMissingTargetConfig, name, orDefault(res.Problem, "not found"))
	case res.Status == plan.ConfigInvalid:
		c.warn(file, cand.Pos, dispatching.RuleUnauthorizedTarget,
			"%s would be denied (%s): %s is invalid: %s",
			what, plan.ReasonInvalidTargetConfig, tr.ConfigFile, orDefault(res.Problem, "unknown problem"))
	case res.Status != plan.ConfigFound || res.Config == nil:
		c.warn(file, cand.Pos, dispatching.RuleUnauthorizedTarget,
			"%s would be denied (%s): cannot read %s: %s",
			what, plan.ReasonTargetConfigUnreadable, tr.ConfigFile, orDefault(res.Problem, "unknown problem"))
	default:
		ar := plan.Authorize(res.Config, tr.ConfigFile, plan.AuthRequest{
			SourceOwner: r.Owner, SourceName: r.Name, SourceWorkflow: wf,
			TargetOwner: cand.Owner, TargetWorkflow: cand.Workflow, InputKeys: keys,
		})
		if ar.Reason == plan.ReasonAuthorized {
			authorized = true
		} else {
			c.warn(file, cand.Pos, dispatching.RuleUnauthorizedTarget, "%s would be denied (%s): %s", what, ar.Reason, ar.Detail)
		}
	}
	if tr != nil && tr.HasWorkflowsDir {
		c.workflow(r, tr, cand, what)
	}
	return authorized
}

// workflow checks the target workflow file and the inputs sent to it.
func (c *checker) workflow(r, tr *Repo, cand plan.Candidate, what string) {
	file := r.ConfigFile
	dir := filepath.Join(tr.Dir, ".github", "workflows")
	wfl := tr.Workflows[cand.Workflow]
	if wfl == nil {
		var hint string
		for _, n := range sortedKeys(tr.Workflows) {
			if strings.EqualFold(n, cand.Workflow) || strings.EqualFold(strings.TrimSuffix(n, filepath.Ext(n)), strings.TrimSuffix(cand.Workflow, filepath.Ext(cand.Workflow))) {
				hint = fmt.Sprintf(" (did you mean %q?)", n)
				break
			}
		}
		if hint == "" {
			hint = " (it has " + orDefault(strings.Join(sortedKeys(tr.Workflows), ", "), "no workflow files") + ")"
		}
		c.warn(file, cand.Pos, dispatching.RuleUnknownTargetWorkflow,
			"%s: there is no %s in %s%s; GitHub answers the dispatch with 404", what, cand.Workflow, dir, hint)
		return
	}
	if wfl.Problem != "" {
		c.warn(file, cand.Pos, dispatching.RuleTargetNotDispatchable,
			"%s: %s cannot be read as a workflow, so GitHub cannot dispatch it: %s", what, wfl.File, wfl.Problem)
		return
	}
	if !wfl.Dispatchable {
		c.warn(file, cand.Pos, dispatching.RuleTargetNotDispatchable,
			"%s: %s has no on: workflow_dispatch trigger; GitHub rejects the dispatch (422)", what, wfl.File)
		return
	}
	declared := orDefault(strings.Join(sortedKeys(wfl.Inputs), ", "), "none")
	sent := map[string]bool{}
	for _, in := range cand.Inputs {
		sent[in.Key] = true
		if !wfl.Inputs[in.Key] {
			pos := in.Pos
			if pos.Line == 0 {
				pos = cand.Pos
			}
			c.warn(file, pos, dispatching.RuleUndeclaredInput,
				"input %q sent to %s is not declared under on.workflow_dispatch.inputs in %s (declared: %s); GitHub rejects the dispatch (422 unexpected inputs)",
				in.Key, what, wfl.File, declared)
		}
	}
	var missing []string
	for _, k := range sortedKeys(wfl.Required) {
		if !sent[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		c.warn(file, cand.Pos, dispatching.RuleMissingRequiredInput,
			"%s: %s requires %s %s (required: true, no default) but this target does not send %s; GitHub rejects the dispatch (422)",
			what, wfl.File, plural(len(missing), "input", "inputs"), quoteAll(missing), plural(len(missing), "it", "them"))
	}
}

// inbound reports inbound rules of r that no outbound rule of their source
// repository uses, when the source repository is in the folder.
func (c *checker) inbound(r *Repo) {
	for i, rule := range r.Config.Config.Inbound {
		srcName := rule.Source.Repository
		if !strings.Contains(srcName, "/") {
			srcName = r.Owner + "/" + srcName
		}
		src := c.w.Repo(srcName)
		if src == nil {
			continue // outside the folder: nothing to compare with
		}
		srcWF := dispatching.WorkflowBase(rule.Source.Workflow)
		who := fmt.Sprintf("%s %s", srcName, srcWF)
		var why func(workflows string) string
		switch {
		case src.Config.Status == plan.ConfigMissing:
			why = func(string) string {
				return fmt.Sprintf("%s has no dispatching.yml, so it dispatches nothing", src.FullName())
			}
		case src.Config.Status != plan.ConfigFound || src.Config.Config == nil:
			continue // invalid or unreadable: its own diagnostics say why
		default:
			why = func(workflows string) string {
				return fmt.Sprintf("no outbound rule for %s in %s dispatches %s %s", srcWF, src.ConfigFile, r.FullName(), workflows)
			}
		}
		used := make([]bool, len(rule.Targets))
		if src.Config.Config != nil {
			for _, cand := range plan.MatchOutbound(src.Config.Config, src.Owner, srcWF) {
				if !strings.EqualFold(cand.Repository(), r.FullName()) {
					continue
				}
				if strings.EqualFold(cand.Repository(), src.FullName()) && strings.EqualFold(cand.Workflow, srcWF) {
					continue // self-dispatch is blocked before authorisation
				}
				for j, t := range rule.Targets {
					// The engine's own matching, one target entry at a time.
					one := &dispatching.Config{Inbound: []dispatching.InboundRule{{Source: rule.Source, Targets: []dispatching.InboundTarget{t}}}}
					ar := plan.Authorize(one, r.ConfigFile, plan.AuthRequest{
						SourceOwner: src.Owner, SourceName: src.Name, SourceWorkflow: srcWF,
						TargetOwner: cand.Owner, TargetWorkflow: cand.Workflow,
					})
					if ar.Reason == plan.ReasonAuthorized {
						used[j] = true
					}
				}
			}
		}
		if strings.Contains(rule.Source.Repository, "/") && rule.Source.Repository != src.FullName() {
			inner := why
			why = func(workflows string) string {
				return inner(workflows) + fmt.Sprintf(" (source.repository is compared case-sensitively; the repository is %s)", src.FullName())
			}
		}
		if !slices.Contains(used, true) {
			var names []string
			for _, t := range rule.Targets {
				names = append(names, dispatching.WorkflowBase(t.Workflow))
			}
			c.warn(r.ConfigFile, rule.Pos, dispatching.RuleUnusedInboundRule,
				"inbound rule %d lets %s dispatch %s, but %s", i+1, who, strings.Join(names, ", "), why(strings.Join(names, " or ")))
			continue
		}
		for j, t := range rule.Targets {
			if !used[j] {
				pos := t.Pos
				if pos.Line == 0 {
					pos = rule.Pos
				}
				name := dispatching.WorkflowBase(t.Workflow)
				c.warn(r.ConfigFile, pos, dispatching.RuleUnusedInboundRule,
					"inbound rule %d lets %s dispatch %s, but %s", i+1, who, name, why(name))
			}
		}
	}
}

// cycles reports every elementary cycle of authorised dispatches once. A
// cycle is found from its smallest node (by key), and reported at the edge
// that leads back to that node.
func (c *checker) cycles() {
	set := map[string]bool{}
	for from, es := range c.edges {
		set[from] = true
		for _, e := range es {
			set[e.to] = true
		}
	}
	all := sortedKeys(set)
	index := make(map[string]int, len(all))
	for i, k := range all {
		index[k] = i
	}
	found, steps := 0, 0
	truncated := false
	for _, start := range all {
		if truncated {
			break
		}
		s := index[start]
		path := []string{start}
		onPath := map[string]bool{start: true}
		var walk func(n string)
		walk = func(n string) {
			for _, e := range c.edges[n] {
				if truncated {
					return
				}
				steps++
				if steps > maxCycleSteps || found >= MaxCycles {
					truncated = true
					return
				}
				if e.to == start {
					found++
					c.reportCycle(append(slices.Clone(path), start), e)
					continue
				}
				if index[e.to] < s || onPath[e.to] {
					continue
				}
				onPath[e.to] = true
				path = append(path, e.to)
				walk(e.to)
				path = path[:len(path)-1]
				onPath[e.to] = false
			}
		}
		walk(start)
	}
	if truncated && len(c.diags) > 0 {
		for i := len(c.diags) - 1; i >= 0; i-- {
			if c.diags[i].Rule == dispatching.RuleDispatchCycle {
				c.diags[i].Message += fmt.Sprintf(" (the search stopped here: there may be more than the %d cycles reported)", found)
				break
			}
		}
	}
}

func (c *checker) reportCycle(path []string, closing edge) {
	names := make([]string, len(path))
	for i, k := range path {
		names[i] = c.labels[k]
	}
	c.warn(closing.file, closing.pos, dispatching.RuleDispatchCycle,
		"dispatch cycle %s: every step is authorised, so the runs would dispatch each other in a loop; the service stops the chain with dispatch_cycle when it comes back to a workflow that already ran",
		strings.Join(names, " → "))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
