package plan

import "strings"

// Allowlist is a compiled operator allowlist (SOURCE_REPO_ALLOWLIST and
// friends): comma-separated items, trimmed and lower-cased; "*" is the only
// wildcard (it matches any run of characters, "/" and the empty string
// included); "?" and every other character are literal. An allowlist with
// no items allows everything (fail-open by design, as in the original).
type Allowlist struct {
	// Items are the normalised items, in order.
	Items []string
}

// ParseAllowlist compiles the raw value of an allowlist variable: it splits
// on ",", trims and lower-cases each item and drops empty items. It never
// fails: every non-empty item is a valid pattern.
func ParseAllowlist(raw string) Allowlist {
	var items []string
	for _, part := range strings.Split(raw, ",") {
		item := strings.ToLower(strings.TrimFunc(part, isJSSpace))
		if item != "" {
			items = append(items, item)
		}
	}
	return Allowlist{Items: items}
}

// isJSSpace reports whether r is whitespace for JavaScript's
// String.prototype.trim (WhiteSpace and LineTerminator), which the original
// used on allowlist items. It differs from unicode.IsSpace on U+FEFF (a
// byte-order mark, trimmed) and U+0085 (not trimmed): an item made of U+0085
// alone stays an item, so the list is not silently empty (fail-open).
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// Allows reports whether v (compared lower-cased) passes the allowlist: the
// list is empty, or some item equals v, or some item with "*" matches v.
func (a Allowlist) Allows(v string) bool {
	if len(a.Items) == 0 {
		return true
	}
	v = strings.ToLower(v)
	for _, item := range a.Items {
		if globMatch(item, v) {
			return true
		}
	}
	return false
}

// Empty reports whether the allowlist has no items (and so allows
// everything).
func (a Allowlist) Empty() bool { return len(a.Items) == 0 }

// String is the normalised list, items joined with ",".
func (a Allowlist) String() string { return strings.Join(a.Items, ",") }

// globMatch reports whether s matches pattern, where "*" matches any
// sequence of bytes (possibly empty) and every other byte matches itself.
// It runs in O(len(pattern)*len(s)) at worst, without recursion.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
