package plan

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// Build evaluates in and returns the Plan. It never fails: every problem is
// a decision with a reason code (see docs/decisions.md for the order).
//
// Source level, first failure wins (Eligible false, Targets empty): the
// source guardrails (default branch, conclusion, repo allowlist, workflow
// allowlist, head repository present, not a fork), then the source config
// (missing, invalid, unreadable), then outbound matching (no rule matched).
//
// Target level, for each candidate in candidate order, first failure wins:
// template resolution (inputs_template_error), GitHub's input limits
// (too_many_inputs, inputs_too_large), the target guardrails
// (target_repo_not_allowlisted, duplicate_target, self_dispatch_blocked),
// the chain checks (dispatch_cycle, chain_depth_exceeded), the cap
// (max_targets_exceeded), then inbound authorisation against the target's
// config (missing_target_config, invalid_target_config,
// target_config_unreadable, inbound_not_authorized, inputs_not_accepted).
// Only targets that pass the cap take a slot and enter the duplicate set.
// Each target repository's config is looked up at most once per Build.
func Build(ctx context.Context, in Input) Plan {
	ev := in.Event
	pol := in.Policy
	p := Plan{Source: SourceOf(ev), Targets: []Target{}}

	if reason, detail := checkSource(ev, pol); reason != "" {
		p.Reason, p.Detail = reason, detail
		return p
	}

	srcFile := configFile(in.Source.Path, ev.Repository.FullName())
	switch in.Source.Status {
	case ConfigFound:
		if in.Source.Config == nil {
			p.Reason = ReasonSourceConfigUnreadable
			p.Detail = fmt.Sprintf("reading %s gave no config", srcFile)
			return p
		}
	case ConfigMissing:
		p.Reason = ReasonSourceConfigMissing
		p.Detail = fmt.Sprintf("%s has no dispatching.yml on its default branch (looked for dispatching.yml, then .github/dispatching.yml)", ev.Repository.FullName())
		return p
	case ConfigInvalid:
		p.Reason = ReasonSourceConfigInvalid
		p.Detail = fmt.Sprintf("%s is invalid: %s", srcFile, orUnknown(in.Source.Problem))
		return p
	default:
		p.Reason = ReasonSourceConfigUnreadable
		p.Detail = fmt.Sprintf("could not read %s: %s", srcFile, orUnknown(in.Source.Problem))
		return p
	}

	workflow := dispatching.WorkflowBase(ev.Run.Path)
	cands := MatchOutbound(in.Source.Config, ev.Repository.Owner, ev.Run.Path)
	if len(cands) == 0 && ev.Run.Path == "" {
		p.Reason = ReasonNoMatchingRule
		p.Detail = "the event carries no workflow_run.path, so no outbound rule can match it"
		return p
	}
	if len(cands) == 0 {
		p.Reason = ReasonNoMatchingRule
		p.Detail = fmt.Sprintf("no outbound rule in %s has source workflow %s (%d outbound rules)", srcFile, workflow, len(in.Source.Config.Outbound))
		return p
	}
	p.Eligible = true

	e := evaluator{
		ctx:       ctx,
		in:        &in,
		vars:      VarsFromEvent(ev),
		srcFile:   srcFile,
		srcFull:   strings.ToLower(ev.Repository.FullName()),
		srcFlow:   strings.ToLower(workflow),
		maxTarget: pol.MaxTargetsPerRun,
		maxDepth:  pol.MaxChainDepth,
		seen:      map[string]int{},
		configs:   map[string]ConfigResult{},
	}
	if e.maxTarget <= 0 {
		e.maxTarget = DefaultMaxTargetsPerRun
	}
	if e.maxDepth <= 0 {
		e.maxDepth = DefaultMaxChainDepth
	}
	ref := pol.DefaultDispatchRef
	if ref == "" {
		ref = DefaultRef
	}
	if ev.Run.HeadBranch != nil {
		ref = *ev.Run.HeadBranch
	}

	p.Targets = make([]Target, 0, len(cands))
	var slotted []int // indices of targets that passed the cap
	for _, c := range cands {
		t := Target{
			Repository: c.Repository(),
			Workflow:   c.Workflow,
			Ref:        ref,
			Outbound:   &RuleRef{File: srcFile, Rule: c.Rule, Target: c.Index, Line: c.Pos.Line, Column: c.Pos.Column},
		}
		if c.Ref != "" {
			t.Ref = c.Ref
		}
		if e.guard(&t, c) {
			slotted = append(slotted, len(p.Targets))
		}
		p.Targets = append(p.Targets, t)
	}
	for _, i := range slotted {
		e.authorize(&p.Targets[i], cands[i])
	}
	rules := ruleList(cands)
	p.Detail = fmt.Sprintf("outbound %s %s in %s %s source workflow %s: %d %s, %d to dispatch",
		plural(len(rules), "rule", "rules"), joinInts(rules), srcFile, plural(len(rules), "matches", "match"),
		workflow, len(cands), plural(len(cands), "candidate", "candidates"), len(p.Dispatches()))
	return p
}

// evaluator holds the per-Build state of the target decisions.
type evaluator struct {
	ctx       context.Context
	in        *Input
	vars      TemplateVars
	srcFile   string
	srcFull   string // lower-cased source full name
	srcFlow   string // lower-cased source workflow
	maxTarget int
	maxDepth  int
	allowed   int            // targets that took a slot
	seen      map[string]int // target key -> index in seenBy
	seenBy    []string       // origin of each target that took a slot
	configs   map[string]ConfigResult
}

func deny(t *Target, reason, detail string) {
	t.Decision, t.Reason, t.Detail = DecisionDeny, reason, detail
}

// origin names where the candidate came from, for details.
func (e *evaluator) origin(c Candidate) string {
	return fmt.Sprintf("outbound rule %d target %d in %s", c.Rule, c.Index, fileLine(e.srcFile, c.Pos))
}

// guard runs everything before inbound authorisation. It reports whether
// the target passed (and took a slot).
func (e *evaluator) guard(t *Target, c Candidate) bool {
	pol := e.in.Policy
	resolved, err := ResolveInputs(c.Inputs, e.vars)
	if err != nil {
		t.Inputs = rawInputs(c.Inputs)
		deny(t, ReasonInputsTemplateError, fmt.Sprintf("%s (%s)", err.Error(), e.origin(c)))
		return false
	}
	t.Inputs = resolved
	if n := len(resolved); n > MaxInputs {
		deny(t, ReasonTooManyInputs, fmt.Sprintf("%d inputs; GitHub accepts at most %d per workflow_dispatch (%s)", n, MaxInputs, e.origin(c)))
		return false
	}
	if n := inputsSize(resolved); n > MaxInputsSize {
		deny(t, ReasonInputsTooLarge, fmt.Sprintf("inputs hold %d characters in total (keys and values); GitHub accepts at most %d (%s)", n, MaxInputsSize, e.origin(c)))
		return false
	}

	repoLower := strings.ToLower(t.Repository)
	key := repoLower + "#" + strings.ToLower(t.Workflow)
	if !pol.TargetRepoAllowlist.Allows(repoLower) {
		deny(t, ReasonTargetRepoNotAllowlisted, fmt.Sprintf("TARGET_REPO_ALLOWLIST (%s) does not allow %s (%s)", pol.TargetRepoAllowlist, repoLower, e.origin(c)))
		return false
	}
	if first, ok := e.seen[key]; ok {
		deny(t, ReasonDuplicateTarget, fmt.Sprintf("%s %s is already dispatched by %s; duplicates are matched on repository and workflow, ignoring ref and inputs (%s)",
			t.Repository, t.Workflow, e.seenBy[first], e.origin(c)))
		return false
	}
	if repoLower == e.srcFull && strings.ToLower(t.Workflow) == e.srcFlow {
		deny(t, ReasonSelfDispatchBlocked, fmt.Sprintf("%s %s would dispatch itself (%s)", t.Repository, t.Workflow, e.origin(c)))
		return false
	}
	chain := e.in.Chain
	for _, link := range chain {
		if strings.EqualFold(link.Repository, t.Repository) && dispatching.WorkflowBase(link.Workflow) == t.Workflow {
			deny(t, ReasonDispatchCycle, fmt.Sprintf("%s %s already ran in this dispatch chain (%s), so dispatching it again would loop (%s)",
				t.Repository, t.Workflow, chainString(chain), e.origin(c)))
			return false
		}
	}
	if depth := max(len(chain), 1); depth > e.maxDepth {
		deny(t, ReasonChainDepthExceeded, fmt.Sprintf("the dispatched run would be at chain depth %d (%s → this target); DISPATCH_MAX_CHAIN_DEPTH is %d (%s)",
			depth, chainString(chain), e.maxDepth, e.origin(c)))
		return false
	}
	if e.allowed >= e.maxTarget {
		deny(t, ReasonMaxTargetsExceeded, fmt.Sprintf("DISPATCH_MAX_TARGETS_PER_RUN is %d and %d targets already passed the guardrails (%s)", e.maxTarget, e.allowed, e.origin(c)))
		return false
	}
	e.allowed++
	e.seen[key] = len(e.seenBy)
	e.seenBy = append(e.seenBy, e.origin(c))
	return true
}

// authorize checks the target's inbound rules and sets the decision.
func (e *evaluator) authorize(t *Target, c Candidate) {
	res := e.lookup(t.Repository)
	file := configFile(res.Path, t.Repository)
	switch res.Status {
	case ConfigFound:
		if res.Config == nil {
			deny(t, ReasonTargetConfigUnreadable, fmt.Sprintf("reading %s gave no config", file))
			return
		}
	case ConfigMissing:
		deny(t, ReasonMissingTargetConfig, fmt.Sprintf("%s has no dispatching.yml on its default branch (looked for dispatching.yml, then .github/dispatching.yml), so it allows no inbound dispatch", t.Repository))
		return
	case ConfigInvalid:
		deny(t, ReasonInvalidTargetConfig, fmt.Sprintf("%s is invalid: %s", file, orUnknown(res.Problem)))
		return
	default:
		deny(t, ReasonTargetConfigUnreadable, fmt.Sprintf("could not read %s: %s", file, orUnknown(res.Problem)))
		return
	}
	keys := make([]string, 0, len(t.Inputs))
	for k := range t.Inputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ev := e.in.Event
	ar := Authorize(res.Config, file, AuthRequest{
		SourceOwner:    ev.Repository.Owner,
		SourceName:     ev.Repository.Name,
		SourceWorkflow: dispatching.WorkflowBase(ev.Run.Path),
		TargetOwner:    c.Owner,
		TargetWorkflow: t.Workflow,
		InputKeys:      keys,
	})
	if ar.Rule > 0 {
		t.Inbound = &RuleRef{File: file, Rule: ar.Rule, Line: ar.Pos.Line, Column: ar.Pos.Column}
	}
	if ar.Reason == ReasonAuthorized {
		t.Decision, t.Reason, t.Detail = DecisionDispatch, ReasonAuthorized, ar.Detail
		return
	}
	deny(t, ar.Reason, ar.Detail)
}

// lookup reads a target repository's config once per Build (repository
// names are compared case-insensitively, as GitHub does).
func (e *evaluator) lookup(repo string) ConfigResult {
	key := strings.ToLower(repo)
	if res, ok := e.configs[key]; ok {
		return res
	}
	var res ConfigResult
	if e.in.Targets == nil {
		res = ConfigResult{Status: ConfigUnreadable, Problem: "no target config lookup was given"}
	} else {
		res = e.in.Targets.Lookup(e.ctx, repo)
	}
	e.configs[key] = res
	return res
}

// checkSource runs the source guardrails in order and returns the first
// failure's reason code and detail, or "" when the source is eligible.
// CheckSource runs the source guardrails of Build (default branch,
// conclusion, repository and workflow allowlists, head repository, fork)
// and returns the first failure's reason and detail, or "" when the source
// is eligible so far. They need no configuration, so a runtime runs them
// before any GitHub call.
func CheckSource(ev Event, pol Policy) (reason, detail string) { return checkSource(ev, pol) }

func checkSource(ev Event, pol Policy) (string, string) {
	full := strings.ToLower(ev.Repository.FullName())
	workflow := strings.ToLower(dispatching.WorkflowBase(ev.Run.Path))
	if pol.EnforceSourceDefaultBranch {
		switch {
		case ev.Run.HeadBranch == nil || *ev.Run.HeadBranch == "":
			return ReasonSourceNotDefaultBranch, "the run has no head branch, and ENFORCE_SOURCE_DEFAULT_BRANCH only lets runs on the default branch through"
		case ev.Repository.DefaultBranch == "":
			return ReasonSourceNotDefaultBranch, "the event does not name the repository's default branch, and ENFORCE_SOURCE_DEFAULT_BRANCH only lets runs on the default branch through"
		case *ev.Run.HeadBranch != ev.Repository.DefaultBranch:
			return ReasonSourceNotDefaultBranch, fmt.Sprintf("head branch %q is not the default branch %q (ENFORCE_SOURCE_DEFAULT_BRANCH is on; branch names are case-sensitive)", *ev.Run.HeadBranch, ev.Repository.DefaultBranch)
		}
	}
	if c := strings.ToLower(ev.Run.Conclusion); !pol.AllowedSourceConclusions.Allows(c) {
		shown := fmt.Sprintf("%q", c)
		if c == "" {
			shown = "empty (null)"
		}
		return ReasonSourceConclusionNotAllowed, fmt.Sprintf("conclusion %s is not in ALLOWED_SOURCE_CONCLUSIONS (%s)", shown, pol.AllowedSourceConclusions)
	}
	if !pol.SourceRepoAllowlist.Allows(full) {
		return ReasonSourceRepoNotAllowlisted, fmt.Sprintf("SOURCE_REPO_ALLOWLIST (%s) does not allow %s", pol.SourceRepoAllowlist, full)
	}
	if !pol.SourceWorkflowAllowlist.Allows(workflow) {
		return ReasonSourceWorkflowNotAllowlisted, fmt.Sprintf("SOURCE_WORKFLOW_ALLOWLIST (%s) does not allow %s", pol.SourceWorkflowAllowlist, workflow)
	}
	head := strings.ToLower(ev.Run.HeadRepositoryFullName)
	if head == "" {
		return ReasonSourceHeadRepositoryUnverifiable, "the event has no workflow_run.head_repository.full_name, so the run cannot be shown to come from the repository itself (fail-closed)"
	}
	if head != full {
		return ReasonSourceFromFork, fmt.Sprintf("the run's head repository %s is not %s (a run from a fork)", head, full)
	}
	return "", ""
}

// SourceOf describes the source run of ev as a Plan does.
func SourceOf(ev Event) Source {
	s := Source{
		Repository: ev.Repository.FullName(),
		Workflow:   dispatching.WorkflowBase(ev.Run.Path),
		RunID:      ev.Run.ID,
		RunAttempt: ev.Run.RunAttempt,
		HeadSHA:    ev.Run.HeadSHA,
		Conclusion: ev.Run.Conclusion,
	}
	if ev.Run.HeadBranch != nil {
		s.HeadBranch = *ev.Run.HeadBranch
	}
	return s
}

// configFile is the name used for a config in details.
func configFile(path, repo string) string {
	if path != "" {
		return path
	}
	return repo + "/dispatching.yml"
}

func orUnknown(s string) string {
	if s == "" {
		return "(no detail given)"
	}
	return s
}

func rawInputs(in []dispatching.Input) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for _, i := range in {
		out[i.Key] = i.Value
	}
	return out
}

// inputsSize is the total length of keys and values in UTF-16 code units.
func inputsSize(in map[string]string) int {
	n := 0
	for k, v := range in {
		n += dispatching.UTF16Len(k) + dispatching.UTF16Len(v)
	}
	return n
}

func chainString(chain []ChainLink) string {
	if len(chain) == 0 {
		return "no earlier dispatch"
	}
	parts := make([]string, len(chain))
	for i, l := range chain {
		parts[i] = l.Repository + " " + dispatching.WorkflowBase(l.Workflow)
	}
	return strings.Join(parts, " → ")
}

func ruleList(cands []Candidate) []int {
	var out []int
	for _, c := range cands {
		if len(out) == 0 || out[len(out)-1] != c.Rule {
			out = append(out, c.Rule)
		}
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
