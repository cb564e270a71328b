package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// MaxInputValueLength is the longest input value accepted after template
// substitution, in UTF-16 code units (the unit the original measured in).
const MaxInputValueLength = 1024

// TemplateVariableNames returns the names of the template variables, in
// documentation order (dispatching.TemplateVariables).
func TemplateVariableNames() []string {
	return slices.Clone(dispatching.TemplateVariables)
}

// TemplateVars are the values of the template variables for one event.
type TemplateVars map[string]string

// VarsFromEvent returns the template variables of ev: source.sha (head_sha),
// source.head_branch ("" when null), source.run_id (decimal, "" when the id
// is 0/absent), source.run_url (html_url), source.repo ("owner/name" as
// sent) and source.workflow (the base name of the workflow path).
func VarsFromEvent(ev Event) TemplateVars {
	branch := ""
	if ev.Run.HeadBranch != nil {
		branch = *ev.Run.HeadBranch
	}
	runID := ""
	if ev.Run.ID != 0 {
		runID = strconv.FormatInt(ev.Run.ID, 10)
	}
	return TemplateVars{
		"source.sha":         ev.Run.HeadSHA,
		"source.head_branch": branch,
		"source.run_id":      runID,
		"source.run_url":     ev.Run.HTMLURL,
		"source.repo":        ev.Repository.FullName(),
		"source.workflow":    dispatching.WorkflowBase(ev.Run.Path),
	}
}

// TemplateError is a failure to resolve one input value.
type TemplateError struct {
	Key      string // the input key
	Variable string // the variable involved, "" for length/control errors
	Pos      dispatching.Pos
	Msg      string
}

// Error returns the message (it implements error).
func (e *TemplateError) Error() string { return e.Msg }

// ResolveInputs resolves the template tokens of every input value, in order,
// and sanitises the results. The first failure aborts (no partial result)
// and is a *TemplateError whose message names the input key and, where one
// is involved, the variable. An empty or nil list gives a nil map.
//
// For each value: every token must name a known variable; each is replaced
// by its value, which must not be empty; the result (literal values
// included) must be at most MaxInputValueLength UTF-16 code units and hold
// no control character U+0000–U+001F or U+007F.
func ResolveInputs(inputs []dispatching.Input, vars TemplateVars) (map[string]string, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(inputs))
	for _, in := range inputs {
		v, err := ResolveValue(in.Key, in.Value, vars)
		if err != nil {
			err.Pos = in.ValuePos
			if err.Pos.Line == 0 {
				err.Pos = in.Pos
			}
			return nil, err
		}
		out[in.Key] = v
	}
	return out, nil
}

// ResolveValue resolves one input value (key is used in messages only).
func ResolveValue(key, value string, vars TemplateVars) (string, *TemplateError) {
	toks := dispatching.TemplateTokens(value)
	for _, t := range toks {
		if _, ok := vars[t.Name]; !ok || !dispatching.IsTemplateVariable(t.Name) {
			return "", &TemplateError{Key: key, Variable: t.Name, Msg: fmt.Sprintf(
				"input %q: unknown template variable %q; supported variables: %s",
				key, t.Name, strings.Join(dispatching.TemplateVariables, ", "))}
		}
	}
	var b strings.Builder
	last := 0
	for _, t := range toks {
		val := vars[t.Name]
		if val == "" {
			return "", &TemplateError{Key: key, Variable: t.Name, Msg: fmt.Sprintf(
				"input %q: template variable %q resolved to an empty string (the event may not carry that field)",
				key, t.Name)}
		}
		b.WriteString(value[last:t.Start])
		b.WriteString(val)
		last = t.End
	}
	b.WriteString(value[last:])
	resolved := b.String()
	if n := dispatching.UTF16Len(resolved); n > MaxInputValueLength {
		return "", &TemplateError{Key: key, Msg: fmt.Sprintf(
			"input %q: value is %d characters long, over the maximum length of %d", key, n, MaxInputValueLength)}
	}
	for _, r := range resolved {
		if r < 0x20 || r == 0x7f {
			return "", &TemplateError{Key: key, Msg: fmt.Sprintf(
				"input %q: value holds control characters (found U+%04X); tabs, newlines and other control characters are not allowed",
				key, r)}
		}
	}
	return resolved, nil
}
