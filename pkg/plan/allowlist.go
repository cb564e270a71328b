package plan

// Allowlist is a compiled operator allowlist (SOURCE_REPO_ALLOWLIST and
// friends): comma-separated items, trimmed and lower-cased; "*" is the only
// wildcard (it matches any run of characters, "/" included); "?" is a
// literal character. An allowlist with no items allows everything.
type Allowlist struct {
	// Items are the normalised items, in order.
	Items []string
}

// ParseAllowlist compiles the raw value of an allowlist variable.
// TODO(skeleton): implemented by the decision engine issue.
func ParseAllowlist(raw string) Allowlist { return Allowlist{} }

// Allows reports whether v (compared lower-cased) passes the allowlist.
// TODO(skeleton): implemented by the decision engine issue.
func (a Allowlist) Allows(v string) bool { return true }
