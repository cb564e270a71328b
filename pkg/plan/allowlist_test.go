package plan

import (
	"slices"
	"testing"
)

func TestParseAllowlist(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{",", nil},
		{" , ,", nil},
		{"Org/Repo", []string{"org/repo"}},
		{" a , B ,, c* ", []string{"a", "b", "c*"}},
		// Items are trimmed of JavaScript's whitespace, as in the original:
		// a byte-order mark and no-break spaces are trimmed, U+0085 is not.
		{"\ufeffOrg/Repo\u00a0,\u3000", []string{"org/repo"}},
		{"\u0085", []string{"\u0085"}},
		{"\t\v\f\r\n\u2028\u2029", nil},
	}
	for _, tt := range tests {
		got := ParseAllowlist(tt.raw).Items
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseAllowlist(%q).Items = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestAllowlistAllows(t *testing.T) {
	tests := []struct {
		list, value string
		want        bool
	}{
		// Empty lists allow everything, the empty value included.
		{"", "anything", true},
		{" , ", "", true},
		// Exact items, compared lower-cased on both sides.
		{"org/repo", "org/repo", true},
		{"org/repo", "ORG/Repo", true},
		{"ORG/REPO", "org/repo", true},
		{"org/repo", "org/repo2", false},
		{"org/repo", "xorg/repo", false},
		{"success", "", false},
		// "*" matches any run, "/" and the empty string included.
		{"org/*", "org/a", true},
		{"org/*", "org/", true},
		{"org/*", "org/a/b", true},
		{"org/*", "other/a", false},
		{"*", "", true},
		{"*", "x/y", true},
		{"ci*", "ci.yml", true},
		{"ci*", "build-ci.yml", false},
		{"*-ci.yml", "build-ci.yml", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a**c", "ac", true},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		// Regexp metacharacters are literal.
		{"org/re.o", "org/repo", false},
		{"org/re.o*", "org/re.o-1", true},
		{"org/(a|b)*", "org/a", false},
		{"org/[ab]*", "org/[ab]x", true},
		// "?" is a literal character (deliberate fix of the original).
		{"org/repo?*", "org/rep", false},
		{"org/repo?*", "org/rep-x", false},
		{"org/repo?*", "org/repo?x", true},
		{"org/repo?", "org/repo", false},
		{"org/repo?", "org/repo?", true},
		// Several items: any may match.
		{"success, skipped", "skipped", true},
		{"success, skipped", "failure", false},
		{"a/x, b/*", "b/y", true},
	}
	for _, tt := range tests {
		got := ParseAllowlist(tt.list).Allows(tt.value)
		if got != tt.want {
			t.Errorf("ParseAllowlist(%q).Allows(%q) = %v, want %v", tt.list, tt.value, got, tt.want)
		}
	}
}

func TestAllowlistString(t *testing.T) {
	a := ParseAllowlist(" A, b* ")
	if a.String() != "a,b*" || a.Empty() {
		t.Errorf("String() = %q, Empty() = %v", a.String(), a.Empty())
	}
	if !ParseAllowlist("").Empty() {
		t.Error("empty allowlist is not Empty()")
	}
}
