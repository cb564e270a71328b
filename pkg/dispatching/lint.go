package dispatching

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// Limits checked by Lint (and enforced by the decision engine at run time).
const (
	// MaxInputs is the most inputs GitHub accepts in one workflow_dispatch.
	MaxInputs = 25
	// MaxInputValueLen is the longest input value after template
	// substitution, in UTF-16 code units (the original service counted
	// JavaScript string length).
	MaxInputValueLen = 1024
)

// LintOptions tell Lint what it cannot read from the file itself.
type LintOptions struct {
	// Repo is the "owner/name" of the repository that holds the file. It
	// resolves bare target names and enables the self-dispatch check;
	// empty means unknown and that check is skipped.
	Repo string
}

// Lint finds problems in a valid Config that a schema cannot express: a
// file that parses but will not do what it says. Every diagnostic is a
// warning with one of the Rule* ids. Input values are checked only in their
// literal text (the parts outside {{ }} tokens): the substituted values are
// known only when a run completes, so a value can still exceed the limits
// after substitution.
func Lint(file string, cfg *Config, opts LintOptions) []Diagnostic {
	if cfg == nil {
		return nil
	}
	l := &linter{file: file}
	owner, _, _ := strings.Cut(opts.Repo, "/")
	self := strings.ToLower(opts.Repo)
	if !strings.Contains(opts.Repo, "/") {
		owner, self = "", ""
	}

	type seen struct {
		pos  Pos
		name string
	}
	// Targets are only duplicates when one run can reach both: rules with
	// the same source workflow.
	bySource := map[string]map[string]seen{}
	for _, r := range cfg.Outbound {
		src := WorkflowBase(r.Source.Workflow)
		l.workflowName(at(r.Source.WorkflowPos, r.Source.Pos), "source workflow", r.Source.Workflow)
		if !isWorkflowFile(src) {
			l.warn(at(r.Source.WorkflowPos, r.Source.Pos), RuleWorkflowNotAFile, "source workflow %q is not a workflow file name; a run is matched by its workflow's file name, so this rule never fires%s", r.Source.Workflow, workflowFileHint(src))
		}
		if bySource[src] == nil {
			bySource[src] = map[string]seen{}
		}
		for _, t := range r.Targets {
			full := resolveRepo(t.Repository, owner)
			wf := WorkflowBase(t.Workflow)
			l.repositoryName(t.Pos, "target repository", t.Repository)
			l.workflowName(at(t.WorkflowPos, t.Pos), "target workflow", t.Workflow)
			if !isWorkflowFile(wf) && !isWorkflowID(wf) {
				l.warn(at(t.WorkflowPos, t.Pos), RuleWorkflowNotAFile, "target %q workflow %q is neither a workflow file name (.yml or .yaml) nor a numeric workflow id; GitHub's dispatch API needs one of them, so the dispatch would fail%s", t.Repository, t.Workflow, workflowFileHint(wf))
			}
			if self != "" && strings.ToLower(full) == self && strings.EqualFold(wf, src) {
				l.warn(t.Pos, RuleSelfDispatch, "target %q workflow %q is the rule's own source workflow in this repository; the dispatch would be denied (self_dispatch_blocked)", t.Repository, t.Workflow)
			}
			key := strings.ToLower(full) + "#" + strings.ToLower(wf)
			if prev, dup := bySource[src][key]; dup {
				l.warn(t.Pos, RuleDuplicateTarget, "target %q workflow %q is already listed at line %d for source workflow %q; this one would be denied (duplicate_target)", t.Repository, t.Workflow, prev.pos.Line, src)
			} else {
				bySource[src][key] = seen{pos: t.Pos, name: full}
			}
			if len(t.Inputs) > MaxInputs {
				l.warn(t.Pos, RuleTooManyInputs, "target %q workflow %q sends %d inputs; GitHub accepts at most %d (too_many_inputs)", t.Repository, t.Workflow, len(t.Inputs), MaxInputs)
			}
			for _, in := range t.Inputs {
				l.input(in)
			}
		}
	}
	for _, r := range cfg.Inbound {
		l.repositoryName(r.Source.Pos, "source repository", r.Source.Repository)
		l.workflowName(at(r.Source.WorkflowPos, r.Source.Pos), "source workflow", r.Source.Workflow)
		if src := WorkflowBase(r.Source.Workflow); !isWorkflowFile(src) {
			l.warn(at(r.Source.WorkflowPos, r.Source.Pos), RuleWorkflowNotAFile, "source workflow %q is not a workflow file name; the source's run is matched by its workflow's file name, so this rule never allows anything%s", r.Source.Workflow, workflowFileHint(src))
		}
		workflows := map[string]Pos{}
		for _, t := range r.Targets {
			wf := WorkflowBase(t.Workflow)
			l.workflowName(at(t.WorkflowPos, t.Pos), "workflow", t.Workflow)
			if !isWorkflowFile(wf) && !isWorkflowID(wf) {
				l.warn(at(t.WorkflowPos, t.Pos), RuleWorkflowNotAFile, "workflow %q is neither a workflow file name (.yml or .yaml) nor a numeric workflow id; it only matches an outbound target that names the same, which GitHub cannot dispatch%s", t.Workflow, workflowFileHint(wf))
			}
			if first, dup := workflows[wf]; dup {
				l.warn(t.Pos, RuleDuplicateInboundWorkflow, "workflow %q is already listed in this inbound rule at line %d; only the first entry is used, so merge their accept_inputs", t.Workflow, first.Line)
			} else {
				workflows[wf] = t.Pos
			}
			accepted := map[string]Pos{}
			for i, key := range t.AcceptInputs {
				p := t.Pos
				if i < len(t.AcceptInputsPos) {
					p = t.AcceptInputsPos[i]
				}
				if first, dup := accepted[key]; dup {
					l.warn(p, RuleDuplicateAcceptInput, "accept_inputs lists %q twice (first at line %d); remove one", key, first.Line)
				} else {
					accepted[key] = p
				}
			}
		}
	}
	return SortDiagnostics(l.diags)
}

type linter struct {
	file  string
	diags []Diagnostic
}

func (l *linter) warn(p Pos, rule, format string, args ...any) {
	l.diags = append(l.diags, Diagnostic{
		File: l.file, Line: max(p.Line, 1), Column: max(p.Column, 1),
		Severity: SeverityWarning, Rule: rule, Message: fmt.Sprintf(format, args...),
	})
}

// repositoryName warns about a repository GitHub accepts but that is
// probably misspelt (RepositoryWarning).
func (l *linter) repositoryName(p Pos, what, repo string) {
	if why := RepositoryWarning(repo); why != "" {
		l.warn(p, RuleSuspiciousName, "%s %q: %s", what, repo, why)
	}
}

// workflowName warns about a workflow GitHub accepts but that is probably
// a mistake (WorkflowWarning).
func (l *linter) workflowName(p Pos, what, wf string) {
	if why := WorkflowWarning(wf); why != "" {
		l.warn(p, RuleSuspiciousName, "%s: %s", what, why)
	}
}

func (l *linter) input(in Input) {
	for _, tok := range TemplateTokens(in.Value) {
		if IsTemplateVariable(tok.Name) {
			continue
		}
		msg := fmt.Sprintf("input %q uses the unknown template variable %q; supported: %s (inputs_template_error)", in.Key, tok.Name, strings.Join(TemplateVariables, ", "))
		if tok.Start > 0 && in.Value[tok.Start-1] == '$' {
			msg += "; GitHub expressions (${{ }}) are not evaluated by dispatcher"
		}
		l.warn(in.ValuePos, RuleUnknownTemplateVariable, "%s", msg)
	}
	lit := LiteralText(in.Value)
	if n := UTF16Len(lit); n > MaxInputValueLen {
		l.warn(in.ValuePos, RuleInputValueTooLong, "input %q is %d characters long (UTF-16 code units) before template substitution; the limit is %d (inputs_template_error)", in.Key, n, MaxInputValueLen)
	}
	if i := strings.IndexFunc(lit, isControl); i >= 0 {
		r := []rune(lit[i:])[0]
		msg := fmt.Sprintf("input %q contains the control character U+%04X; tabs, line breaks and other control characters are not allowed in input values (inputs_template_error)", in.Key, r)
		if r == '\n' {
			msg += "; a block scalar (| or >) keeps line breaks, use a single-line quoted string"
		}
		l.warn(in.ValuePos, RuleInputControlCharacter, "%s", msg)
	}
}

// isControl reports the characters an input value may not hold: C0 controls
// and DEL. C1 controls and U+2028 are allowed, as in the original service.
func isControl(r rune) bool { return r <= 0x1f || r == 0x7f }

// UTF16Len is the length of s in UTF-16 code units, the unit GitHub and the
// original service count input lengths in.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // invalid UTF-8 decodes to U+FFFD: one unit
	}
	return n
}

// isWorkflowFile reports whether a workflow base name is a workflow file
// name: something ending in .yml or .yaml (in any case).
func isWorkflowFile(base string) bool {
	lower := strings.ToLower(base)
	for _, ext := range []string{".yml", ".yaml"} {
		if len(lower) > len(ext) && strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// isWorkflowID reports whether a workflow is a numeric workflow id, which
// GitHub's dispatch API accepts in place of the file name.
func isWorkflowID(base string) bool {
	return base != "" && strings.Trim(base, "0123456789") == ""
}

// workflowFileHint suggests the file name a bare workflow name probably
// means: "deploy" -> "; did you mean "deploy.yml"?".
func workflowFileHint(base string) string {
	if base == "" || strings.Contains(base, ".") || isWorkflowID(base) {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", base+".yml")
}

// at returns p, or fallback when p is unknown.
func at(p, fallback Pos) Pos {
	if p.Line == 0 {
		return fallback
	}
	return p
}

// WorkflowBase normalises a workflow reference to its file name: split on
// "/", drop empty parts, keep the last one (".github/workflows/ci.yml" ->
// "ci.yml", "a/b/" -> "b"). A value with no part left is returned as is.
func WorkflowBase(w string) string {
	parts := strings.FieldsFunc(w, func(r rune) bool { return r == '/' })
	if len(parts) == 0 {
		return w
	}
	return parts[len(parts)-1]
}

// resolveRepo turns a target repository into "owner/name": a bare name
// takes owner (the file's own owner). With no owner known, a bare name is
// returned as is.
func resolveRepo(repo, owner string) string {
	if strings.Contains(repo, "/") || owner == "" {
		return repo
	}
	return owner + "/" + repo
}
