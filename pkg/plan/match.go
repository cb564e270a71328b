package plan

import (
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// SplitTargetRepository resolves an outbound target's repository against the
// source owner. The value is split on "/" with empty parts dropped: exactly
// two parts give owner and name; anything else (a bare "name", or a value
// such as "a/b/c" or "/x") keeps the source owner and uses the whole raw
// value as the name, as the original does. Case is preserved.
func SplitTargetRepository(raw, sourceOwner string) (owner, name string) {
	var parts []string
	for _, p := range strings.Split(raw, "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 2 {
		return parts[0], parts[1]
	}
	return sourceOwner, raw
}

// Candidate is one outbound target emitted by a matching outbound rule,
// before any decision.
type Candidate struct {
	Owner    string // case as written (or the source owner's case)
	Name     string
	Workflow string // base name
	Ref      string // "" when the target has no ref
	// Inputs are the raw (unresolved) inputs in file order; nil when none.
	Inputs []dispatching.Input
	// Rule and Index locate the outbound rule (1-based) and the target
	// within it (1-based); Pos is the target's position in the file.
	Rule, Index int
	Pos         dispatching.Pos
}

// Repository is "owner/name".
func (c Candidate) Repository() string { return c.Owner + "/" + c.Name }

// MatchOutbound returns the candidates of cfg for a completed run of the
// workflow at runPath in a repository owned by sourceOwner: every target of
// every outbound rule whose source workflow has the same base name as
// runPath (case-sensitive, no wildcards), in file order, not de-duplicated.
func MatchOutbound(cfg *dispatching.Config, sourceOwner, runPath string) []Candidate {
	if cfg == nil {
		return nil
	}
	want := dispatching.WorkflowBase(runPath)
	var out []Candidate
	for ri, rule := range cfg.Outbound {
		if dispatching.WorkflowBase(rule.Source.Workflow) != want {
			continue
		}
		for ti, t := range rule.Targets {
			owner, name := SplitTargetRepository(t.Repository, sourceOwner)
			c := Candidate{
				Owner:    owner,
				Name:     name,
				Workflow: dispatching.WorkflowBase(t.Workflow),
				Ref:      t.Ref,
				Rule:     ri + 1,
				Index:    ti + 1,
				Pos:      t.Pos,
			}
			if len(t.Inputs) > 0 {
				c.Inputs = t.Inputs
			}
			out = append(out, c)
		}
	}
	return out
}
