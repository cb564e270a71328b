package dispatching

import (
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// The regular expression behind TemplateTokens and a plain scanner written
// from the grammar's prose must agree on every value: the grammar is
// stated twice, so a mistake in either shows.
func TestTemplateTokensAgreeWithScanner(t *testing.T) {
	alphabet := []string{"{", "}", "{{", "}}", " ", "\t", "\u00a0", "source.sha", "a", "-", ".", "_", "|", "$", "é", "\u2028"}
	rapid.Check(t, func(t *rapid.T) {
		parts := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 12).Draw(t, "parts")
		v := strings.Join(parts, "")
		got, want := TemplateTokens(v), oracleTokens(v)
		if len(got) != len(want) {
			t.Fatalf("%q: %d tokens, the scanner finds %d", v, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].Start != want[i].Start || got[i].End != want[i].End {
				t.Fatalf("%q: token %d is %+v, the scanner finds %+v", v, i, got[i], want[i])
			}
		}
	})
}

// oracleToken is one {{ name }} occurrence in a value: [Start, End) is its byte
// range and Name the variable name inside it.
type oracleToken struct {
	Start, End int
	Name       string
}

// oracleTokens returns the template tokens of value, left to right. A token
// is "{{", optional whitespace, a name of [A-Za-z0-9_.]+, optional
// whitespace, "}}". Text that does not fit the grammar (e.g. "{{ a-b }}" or
// "{{ x | upper }}") is literal text, not an error. Whitespace is the
// ECMAScript \s set (tab, newline, space, NBSP, the Unicode spaces), as in
// the original.
func oracleTokens(value string) []oracleToken {
	var out []oracleToken
	for i := 0; i+1 < len(value); {
		if value[i] != '{' || value[i+1] != '{' {
			i++
			continue
		}
		if tok, ok := oracleTokenAt(value, i); ok {
			out = append(out, tok)
			i = tok.End
			continue
		}
		i++
	}
	return out
}

// oracleTokenAt tries to read a token starting at value[i:] ("{{" already seen).
func oracleTokenAt(value string, i int) (oracleToken, bool) {
	j := skipSpace(value, i+2)
	start := j
	for j < len(value) && isNameByte(value[j]) {
		j++
	}
	if j == start {
		return oracleToken{}, false
	}
	name := value[start:j]
	j = skipSpace(value, j)
	if j+1 < len(value) && value[j] == '}' && value[j+1] == '}' {
		return oracleToken{Start: i, End: j + 2, Name: name}, true
	}
	return oracleToken{}, false
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

func TestUTF16Len(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "é": 1, "😀": 2, "a😀b": 4, "\xff": 1} {
		if got := UTF16Len(s); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", s, got, want)
		}
	}
}
