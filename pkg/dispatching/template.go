package dispatching

import (
	"regexp"
	"slices"
)

// TemplateVariables are the variables an outbound input value may use as
// {{ name }} tokens, in the order messages list them. Names are
// case-sensitive.
var TemplateVariables = []string{
	"source.sha",
	"source.head_branch",
	"source.run_id",
	"source.run_url",
	"source.repo",
	"source.workflow",
}

// IsTemplateVariable reports whether name is one of TemplateVariables.
func IsTemplateVariable(name string) bool {
	return slices.Contains(TemplateVariables, name)
}

// Token is one {{ name }} template token found in an input value.
type Token struct {
	// Name is the variable name without braces and whitespace, e.g.
	// "source.sha". It may be a name that is not a TemplateVariable.
	Name string
	// Start and End are the byte offsets of the whole token, braces
	// included, in the value: value[Start:End] == "{{ source.sha }}".
	Start, End int
}

// templateSpace is the whitespace allowed around a token's name. It is the
// JavaScript \s class (ASCII whitespace plus Unicode spaces), because the
// original service used it and the same file must mean the same thing.
const templateSpace = `[\t\n\v\f\r \x{00a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]*`

// TokenPattern is the template token grammar: "{{", optional whitespace, a
// name of [A-Za-z0-9_.]+, optional whitespace, "}}". Text that does not fit
// the grammar (e.g. "{{ source-sha }}" or "{{ a | b }}") is literal text,
// not an error.
var TokenPattern = regexp.MustCompile(`\{\{` + templateSpace + `([A-Za-z0-9_.]+)` + templateSpace + `\}\}`)

// TemplateTokens returns the tokens of value from left to right. Matching is
// leftmost and non-overlapping, so "{{{ source.sha }}}" holds one token and
// keeps the outer braces as literal text.
func TemplateTokens(value string) []Token {
	ms := TokenPattern.FindAllStringSubmatchIndex(value, -1)
	if len(ms) == 0 {
		return nil
	}
	out := make([]Token, 0, len(ms))
	for _, m := range ms {
		out = append(out, Token{Name: value[m[2]:m[3]], Start: m[0], End: m[1]})
	}
	return out
}

// LiteralText returns value with every template token removed: the part of
// the value that is known before the run completes.
func LiteralText(value string) string {
	return TokenPattern.ReplaceAllLiteralString(value, "")
}
