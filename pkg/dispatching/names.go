package dispatching

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// GitHub's limits on names, as its web interface and API enforce them.
const (
	// MaxOwnerLength is the longest user or organisation name.
	MaxOwnerLength = 39
	// MaxRepoNameLength is the longest repository name.
	MaxRepoNameLength = 100
)

// RepositoryProblem says why s can never name a GitHub repository, or ""
// when it can. s is NAME or OWNER/NAME as written in dispatching.yml. The
// rules are those of schemas/dispatching.schema.json (#/$defs/repository),
// which a test keeps in step with this function: an owner has 1 to 39
// letters, digits and hyphens; a name has 1 to 100 letters, digits, '.',
// '-' and '_' and is not "." or "..".
func RepositoryProblem(s string) string {
	owner, name, hasOwner := strings.Cut(s, "/")
	if !hasOwner {
		owner, name = "", s
	}
	switch {
	case strings.Contains(name, "/") || (hasOwner && owner == "") || name == "":
		return "expected NAME or OWNER/NAME (exactly one \"/\" between two non-empty parts)"
	case hasOwner && !onlyChars(owner, "-"):
		return fmt.Sprintf("owner %q has a character GitHub does not allow in account names (only letters, digits and hyphens)", owner)
	case hasOwner && utf8.RuneCountInString(owner) > MaxOwnerLength:
		return fmt.Sprintf("owner is %d characters long; GitHub account names have at most %d", utf8.RuneCountInString(owner), MaxOwnerLength)
	case name == "." || name == "..":
		return fmt.Sprintf("name %q is not a repository name; GitHub reserves \".\" and \"..\"", name)
	case !onlyChars(name, "._-"):
		return fmt.Sprintf("name %q has a character GitHub does not allow in repository names (only letters, digits, '.', '-' and '_')", name)
	case utf8.RuneCountInString(name) > MaxRepoNameLength:
		return fmt.Sprintf("name is %d characters long; GitHub repository names have at most %d", utf8.RuneCountInString(name), MaxRepoNameLength)
	}
	return ""
}

// RepositoryWarning says why s, a valid repository (RepositoryProblem is
// ""), is still suspicious, or "". GitHub no longer lets anyone create an
// account whose name starts or ends with a hyphen or holds two in a row;
// only a few old accounts have one.
func RepositoryWarning(s string) string {
	owner, _, ok := strings.Cut(s, "/")
	if !ok {
		return ""
	}
	if strings.HasPrefix(owner, "-") || strings.HasSuffix(owner, "-") || strings.Contains(owner, "--") {
		return fmt.Sprintf("owner %q starts or ends with a hyphen or has two in a row; GitHub does not allow that in new account names, so check the spelling", owner)
	}
	return ""
}

// WorkflowProblem says why s can never name a workflow, or "" when it can:
// a control character, or a file name ("." or "..") that no file can have.
// It matches #/$defs/workflow of schemas/dispatching.schema.json.
func WorkflowProblem(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf("%q has a control character; no workflow file name has one", s)
		}
	}
	if base := WorkflowBase(s); base == "." || base == ".." {
		return fmt.Sprintf("%q names the folder %q, not a workflow file", s, base)
	}
	return ""
}

// WorkflowWarning says why s, a valid workflow (WorkflowProblem is ""), is
// suspicious, or "". GitHub runs only workflow files directly in
// .github/workflows/, so a path anywhere else (a/b.yml, ../x.yml, a
// subfolder) is a mistake even though only its file name is used; and a
// file name with spaces or other characters beyond letters, digits, '.',
// '-' and '_' is legal but rarely what was meant.
func WorkflowWarning(s string) string {
	base := WorkflowBase(s)
	if strings.Contains(s, "/") && s != ".github/workflows/"+base && s != "./.github/workflows/"+base {
		return fmt.Sprintf("%q is a path outside .github/workflows/; GitHub only runs workflow files directly in that folder, and dispatcher uses only the file name %q, so write the file name", s, base)
	}
	if !onlyChars(base, "._-") {
		return fmt.Sprintf("workflow file name %q has a space or a character other than letters, digits, '.', '-' and '_'; check that .github/workflows/%s really exists", base, base)
	}
	return ""
}

// onlyChars reports whether s holds only ASCII letters, digits and the
// characters of extra.
func onlyChars(s, extra string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r < utf8.RuneSelf && strings.ContainsRune(extra, r):
		default:
			return false
		}
	}
	return true
}
