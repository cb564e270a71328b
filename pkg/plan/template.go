package plan

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// MaxInputValueLength is the longest input value accepted after template
// substitution, in UTF-16 code units (the unit the original measured in).
const MaxInputValueLength = 1024

// TemplateVariableNames are the six variables an outbound input value may
// reference as {{ name }}, in the order error messages list them.
var templateVariableNames = [...]string{
	"source.sha",
	"source.head_branch",
	"source.run_id",
	"source.run_url",
	"source.repo",
	"source.workflow",
}

// TemplateVariableNames returns the names of the template variables, in
// documentation order.
func TemplateVariableNames() []string {
	return append([]string(nil), templateVariableNames[:]...)
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
		"source.workflow":    WorkflowBasename(ev.Run.Path),
	}
}

// TemplateError is a failure to resolve one input value.
type TemplateError struct {
	Key      string // the input key
	Variable string // the variable involved, "" for length/control errors
	Pos      dispatching.Pos
	Msg      string
}

func (e *TemplateError) Error() string { return e.Msg }

// Token is one {{ name }} occurrence in a value: [Start, End) is its byte
// range and Name the variable name inside it.
type Token struct {
	Start, End int
	Name       string
}

// FindTokens returns the template tokens of value, left to right. A token
// is "{{", optional whitespace, a name of [A-Za-z0-9_.]+, optional
// whitespace, "}}". Text that does not fit the grammar (e.g. "{{ a-b }}" or
// "{{ x | upper }}") is literal text, not an error. Whitespace is the
// ECMAScript \s set (tab, newline, space, NBSP, the Unicode spaces), as in
// the original.
func FindTokens(value string) []Token {
	var out []Token
	for i := 0; i+1 < len(value); {
		if value[i] != '{' || value[i+1] != '{' {
			i++
			continue
		}
		if tok, ok := tokenAt(value, i); ok {
			out = append(out, tok)
			i = tok.End
			continue
		}
		i++
	}
	return out
}

// tokenAt tries to read a token starting at value[i:] ("{{" already seen).
func tokenAt(value string, i int) (Token, bool) {
	j := skipSpace(value, i+2)
	start := j
	for j < len(value) && isNameByte(value[j]) {
		j++
	}
	if j == start {
		return Token{}, false
	}
	name := value[start:j]
	j = skipSpace(value, j)
	if j+1 < len(value) && value[j] == '}' && value[j+1] == '}' {
		return Token{Start: i, End: j + 2, Name: name}, true
	}
	return Token{}, false
}

func isNameByte(b byte) bool {
	return b == '_' || b == '.' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

func skipSpace(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isJSSpace(r) {
			break
		}
		i += size
	}
	return i
}

// isJSSpace is the ECMAScript WhiteSpace and LineTerminator sets (what a
// JavaScript regexp's \s matches).
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2028', '\u2029',
		'\u202f', '\u205f', '\u3000', '\ufeff':
		return true
	}
	return r >= '\u2000' && r <= '\u200a'
}

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
	toks := FindTokens(value)
	for _, t := range toks {
		if _, ok := vars[t.Name]; !ok || !knownVariable(t.Name) {
			return "", &TemplateError{Key: key, Variable: t.Name, Msg: fmt.Sprintf(
				"input %q: unknown template variable %q; supported variables: %s",
				key, t.Name, strings.Join(templateVariableNames[:], ", "))}
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
	if n := UTF16Len(resolved); n > MaxInputValueLength {
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

func knownVariable(name string) bool {
	for _, n := range templateVariableNames {
		if n == name {
			return true
		}
	}
	return false
}

// UTF16Len is the length of s in UTF-16 code units (JavaScript's
// String.length), the unit of the input value limit.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		if utf16.RuneLen(r) == 2 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
