package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/mattn/go-runewidth"
	"github.com/muesli/termenv"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
	"github.com/dispatcher-dev/dispatcher/pkg/world"
)

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// planStyles are the colours of plan output; all plain without colour.
type planStyles struct {
	title, dispatch, deny, dim lipgloss.Style
	color                      bool
	// width is the terminal width tables must fit (0: no limit).
	width int
}

func newPlanStyles(w io.Writer, color bool) planStyles {
	r := lipgloss.NewRenderer(w)
	if !color {
		r.SetColorProfile(termenv.Ascii)
		plain := r.NewStyle()
		return planStyles{title: plain, dispatch: plain, deny: plain, dim: plain}
	}
	// The decision was made by Streams.Color (--color always may write
	// to a pipe): do not let lipgloss detect the output again.
	r.SetColorProfile(termenv.ANSI)
	return planStyles{
		title:    r.NewStyle().Bold(true),
		dispatch: r.NewStyle().Foreground(lipgloss.Color("2")).Bold(true),
		deny:     r.NewStyle().Foreground(lipgloss.Color("1")),
		dim:      r.NewStyle().Faint(true),
		color:    true,
	}
}

// renderPlanText prints a plan as a readable table.
func renderPlanText(w io.Writer, p plan.Plan, st planStyles) {
	s := p.Source
	fmt.Fprintf(w, "%s\n", st.title.Render(termSafe(fmt.Sprintf("%s · %s · run %d (branch %s, %s)",
		s.Repository, s.Workflow, s.RunID, orDash(s.HeadBranch), orDash(s.Conclusion)))))
	if !p.Eligible {
		fmt.Fprintf(w, "  %s %s\n", st.deny.Render("not eligible:"), termSafe(p.Reason))
		if p.Detail != "" {
			fmt.Fprintf(w, "  %s\n", termSafe(p.Detail))
		}
		return
	}
	if len(p.Targets) == 0 {
		fmt.Fprintln(w, "  no targets")
		return
	}
	rows := make([][]string, 0, len(p.Targets))
	for _, t := range p.Targets {
		row := []string{t.Decision, t.Repository, t.Workflow, t.Ref, formatInputs(t.Inputs), t.Reason, t.Detail}
		for i := range row {
			row[i] = termSafe(row[i])
		}
		rows = append(rows, row)
	}
	fmt.Fprintln(w, renderPlanTable(rows, st))
	n := len(p.Dispatches())
	fmt.Fprintf(w, "%d to dispatch, %d denied\n", n, len(p.Targets)-n)
}

// planHeaders are the columns of the plan table.
var planHeaders = []string{"DECISION", "TARGET", "WORKFLOW", "REF", "INPUTS", "REASON", "DETAIL"}

// planShrinkColumns are the columns cut, in this order, when the table is
// wider than the terminal: the free-text detail first, then the inputs.
// The decision, target, workflow, ref and reason stay whole (they are what
// a reader greps for); --format json always has every text in full.
var planShrinkColumns = []int{6, 4}

// planMinColumn is the narrowest a cut column becomes.
const planMinColumn = 12

// renderPlanTable lays the rows out under planHeaders, fitting st.width
// when set: the detail column is cut with "…" first, down to
// planMinColumn, then the inputs column; whatever room is left goes back
// to the detail.
func renderPlanTable(rows [][]string, st planStyles) string {
	out := renderPlanTableRows(rows, st)
	if st.width <= 0 {
		return out
	}
	over := planTableWidth(out) - st.width
	if over <= 0 {
		return out
	}
	natural := map[int]int{}
	for _, col := range planShrinkColumns {
		natural[col] = runewidth.StringWidth(planHeaders[col])
		for _, r := range rows {
			natural[col] = max(natural[col], runewidth.StringWidth(r[col]))
		}
	}
	limits := map[int]int{}
	for _, col := range planShrinkColumns {
		limits[col] = natural[col]
	}
	// Take from each column in turn, never below planMinColumn (or its
	// natural width, if smaller).
	for _, col := range planShrinkColumns {
		if over <= 0 {
			break
		}
		floor := min(planMinColumn, natural[col])
		take := min(over, limits[col]-floor)
		limits[col] -= take
		over -= take
	}
	cut := make([][]string, len(rows))
	for i, r := range rows {
		cut[i] = slices.Clone(r)
		for col, limit := range limits {
			if limit < natural[col] {
				cut[i][col] = runewidth.Truncate(r[col], limit, "…")
			}
		}
	}
	return renderPlanTableRows(cut, st)
}

// planTableWidth is the width of the widest line of a rendered table.
func planTableWidth(s string) int {
	w := 0
	for _, l := range strings.Split(s, "\n") {
		w = max(w, lipgloss.Width(l))
	}
	return w
}

func renderPlanTableRows(rows [][]string, st planStyles) string {
	tbl := table.New().
		Border(lipgloss.HiddenBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).BorderHeader(false).
		Headers(planHeaders...).
		Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			if row == table.HeaderRow {
				return st.title
			}
			if col == 0 && row >= 0 && row < len(rows) {
				if rows[row][0] == plan.DecisionDispatch {
					return st.dispatch
				}
				return st.deny
			}
			if col == 6 {
				return st.dim
			}
			return lipgloss.NewStyle()
		})
	out := tbl.Render()
	// Trim the trailing blanks the hidden border leaves.
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func formatInputs(in map[string]string) string {
	if len(in) == 0 {
		return ""
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := in[k]
		v = runewidth.Truncate(v, 24, "…")
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// renderFollowText prints every plan of a walk, then the cycles and depth.
func renderFollowText(w io.Writer, r world.FollowResult, st planStyles) {
	renderPlanText(w, r.Root, st)
	for _, p := range r.Steps {
		fmt.Fprintln(w)
		renderPlanText(w, p, st)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d runs, maximum dispatch depth %d\n", len(r.Steps)+1, r.MaxDepth)
	for _, c := range r.Cycles {
		fmt.Fprintf(w, "%s %s\n", st.deny.Render("cycle:"), termSafe(strings.Join(c, " → ")))
	}
	if r.Truncated {
		fmt.Fprintf(w, "stopped after %d runs\n", world.MaxSteps)
	}
}

// renderMermaid draws the dispatch graph: allowed edges solid, denied edges
// dashed with their reason.
func renderMermaid(w io.Writer, plans []plan.Plan) {
	fmt.Fprintln(w, "flowchart LR")
	ids := map[string]string{}
	node := func(repo, wf string) string {
		key := strings.ToLower(repo) + ":" + wf
		if id, ok := ids[key]; ok {
			return id
		}
		id := fmt.Sprintf("n%d", len(ids))
		ids[key] = id
		fmt.Fprintf(w, "  %s[\"%s<br/>%s\"]\n", id, mermaidEscape(repo), mermaidEscape(wf))
		return id
	}
	seen := map[string]bool{}
	for _, p := range plans {
		from := node(p.Source.Repository, p.Source.Workflow)
		if !p.Eligible {
			continue
		}
		for _, t := range p.Targets {
			to := node(t.Repository, t.Workflow)
			var edge string
			if t.Decision == plan.DecisionDispatch {
				edge = fmt.Sprintf("  %s --> %s\n", from, to)
			} else {
				edge = fmt.Sprintf("  %s -. \"%s\" .-> %s\n", from, mermaidEscape(t.Reason), to)
			}
			if !seen[edge] {
				seen[edge] = true
				fmt.Fprint(w, edge)
			}
		}
	}
}

func mermaidEscape(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(termSafe(s))
}
