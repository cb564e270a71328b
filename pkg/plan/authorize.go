package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// AuthRequest is what a target repository's inbound rules are checked
// against.
type AuthRequest struct {
	// SourceOwner and SourceName name the source repository, case as sent.
	SourceOwner, SourceName string
	// SourceWorkflow is the source workflow base name.
	SourceWorkflow string
	// TargetOwner is the owner of the repository whose config is checked;
	// a bare inbound source.repository means this owner.
	TargetOwner string
	// TargetWorkflow is the base name of the workflow to dispatch.
	TargetWorkflow string
	// InputKeys are the keys of the (resolved) inputs that would be sent.
	InputKeys []string
}

// AuthResult is the outcome of Authorize.
type AuthResult struct {
	// Reason is ReasonAuthorized, ReasonInputsNotAccepted or
	// ReasonInboundNotAuthorized.
	Reason string
	// Rule is the 1-based index of the inbound rule that authorised the
	// dispatch (or, for ReasonInputsNotAccepted, of the first rule that
	// matched); 0 when no rule matched. Pos is that rule's position.
	Rule int
	Pos  dispatching.Pos
	// Detail explains the outcome for humans, naming file and line.
	Detail string
}

// Authorize evaluates cfg's inbound rules (file names the config for
// messages, e.g. "acme/deploy/dispatching.yml") for one dispatch.
//
// A rule matches when its source.repository names the source (either
// "owner/name", compared case-sensitively with the source's full name, or
// a bare "name", which means a repository of that name under the target
// repository's own owner: the name is compared case-sensitively and the
// owner case-insensitively), its source.workflow has the source workflow's
// base name, and one of its targets has the target workflow's base name
// (only the first such target of the rule counts). A matching rule
// authorises straight away when no inputs are sent; otherwise only when
// that target's accept_inputs lists every key sent, and if not, later rules
// are tried. When rules matched but none accepted the inputs the result is
// inputs_not_accepted; when none matched, inbound_not_authorized.
func Authorize(cfg *dispatching.Config, file string, req AuthRequest) AuthResult {
	source := req.SourceOwner + "/" + req.SourceName
	who := fmt.Sprintf("%s %s", source, req.SourceWorkflow)
	firstMatch := -1
	var firstTarget *dispatching.InboundTarget
	var rules []dispatching.InboundRule
	if cfg != nil {
		rules = cfg.Inbound
	}
	for i := range rules {
		rule := &rules[i]
		if !inboundSourceMatches(rule.Source.Repository, req) {
			continue
		}
		if dispatching.WorkflowBase(rule.Source.Workflow) != req.SourceWorkflow {
			continue
		}
		var entry *dispatching.InboundTarget
		for j := range rule.Targets {
			if dispatching.WorkflowBase(rule.Targets[j].Workflow) == req.TargetWorkflow {
				entry = &rule.Targets[j]
				break
			}
		}
		if entry == nil {
			continue
		}
		if len(req.InputKeys) == 0 {
			return AuthResult{Reason: ReasonAuthorized, Rule: i + 1, Pos: rule.Pos, Detail: fmt.Sprintf(
				"inbound rule %d in %s allows %s to dispatch %s", i+1, fileLine(file, rule.Pos), who, req.TargetWorkflow)}
		}
		if len(missingInputs(entry, req.InputKeys)) == 0 {
			return AuthResult{Reason: ReasonAuthorized, Rule: i + 1, Pos: rule.Pos, Detail: fmt.Sprintf(
				"inbound rule %d in %s allows %s to dispatch %s with inputs %s",
				i+1, fileLine(file, rule.Pos), who, req.TargetWorkflow, strings.Join(sortedCopy(req.InputKeys), ", "))}
		}
		if firstMatch < 0 {
			firstMatch, firstTarget = i, entry
		}
	}
	if firstMatch >= 0 {
		rule := rules[firstMatch]
		var why string
		switch {
		case firstTarget.AcceptInputs == nil:
			why = "declares no accept_inputs"
		case len(firstTarget.AcceptInputs) == 0:
			why = "has accept_inputs: [] (accepts none)"
		default:
			why = "does not accept " + strings.Join(missingInputs(firstTarget, req.InputKeys), ", ")
		}
		return AuthResult{Reason: ReasonInputsNotAccepted, Rule: firstMatch + 1, Pos: rule.Pos, Detail: fmt.Sprintf(
			"inbound rule %d in %s names %s and %s but %s, and no later rule accepts inputs %s",
			firstMatch+1, fileLine(file, rule.Pos), who, req.TargetWorkflow, why, strings.Join(sortedCopy(req.InputKeys), ", "))}
	}
	return AuthResult{Reason: ReasonInboundNotAuthorized, Detail: fmt.Sprintf(
		"no inbound rule in %s names source %s and workflow %s", file, who, req.TargetWorkflow)}
}

// inboundSourceMatches applies the source.repository test of an inbound rule.
func inboundSourceMatches(ruleRepo string, req AuthRequest) bool {
	if strings.Contains(ruleRepo, "/") {
		return ruleRepo == req.SourceOwner+"/"+req.SourceName
	}
	return ruleRepo == req.SourceName && strings.EqualFold(req.SourceOwner, req.TargetOwner)
}

// missingInputs lists, sorted, the keys not in entry's accept_inputs.
func missingInputs(entry *dispatching.InboundTarget, keys []string) []string {
	var out []string
	for _, k := range keys {
		if !slices.Contains(entry.AcceptInputs, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// fileLine is "file:line" when the position is known, else "file".
func fileLine(file string, pos dispatching.Pos) string {
	if pos.Line > 0 {
		return fmt.Sprintf("%s:%d", file, pos.Line)
	}
	return file
}
