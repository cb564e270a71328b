package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

func TestTermSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text\tand tab", "plain text\tand tab"},
		{"é ü 日本 🙂", "é ü 日本 🙂"},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"\x1b[2J", `\x1b[2J`},
		{"a\rb\nc\x7f", `a\x0db\x0ac\x7f`},
		{"\u009b31m", `\u009b31m`},
		{"\xff\xfe", `\xff\xfe`},
		{"\u202eabc\u2066", `\u202eabc\u2066`},
	} {
		if got := termSafe(tc.in); got != tc.want {
			t.Errorf("termSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTermSafeColumn(t *testing.T) {
	// The column of "x" (5th character) moves by the width of the escapes
	// before it: \x1b is four characters for one.
	line, col := termSafeCol("a\x1bb\x07x", 5)
	if line != `a\x1bb\x07x` || col != 11 || []rune(line)[col-1] != 'x' {
		t.Errorf("termSafeCol = %q, %d; want the column of x", line, col)
	}
}

// TestPlanTextEscapes: plan and simulate tables show names and details that
// come from files and from GitHub; none may reach the terminal raw.
func TestPlanTextEscapes(t *testing.T) {
	p := plan.Plan{
		Source:   plan.Source{Repository: "acme/api\x1b[2J", Workflow: "ci.yml", RunID: 1},
		Eligible: true,
		Targets: []plan.Target{{Repository: "acme/x\x1b]0;t\x07", Workflow: "d.yml", Ref: "main",
			Inputs: map[string]string{"k": "\x1b[31m"}, Decision: plan.DecisionDeny, Reason: "inbound_not_authorized", Detail: "\u202edetail"}},
	}
	var b bytes.Buffer
	renderPlanText(&b, p, newPlanStyles(&b, false))
	renderMermaid(&b, []plan.Plan{p})
	if strings.ContainsAny(b.String(), "\x1b\x07\u202e") {
		t.Errorf("plan text holds raw control characters:\n%q", b.String())
	}
}
