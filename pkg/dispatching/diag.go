package dispatching

import (
	"cmp"
	"slices"
)

// SortDiagnostics sorts diagnostics by file, line, column, rule and message
// and removes exact duplicates. It returns the (reused) slice.
func SortDiagnostics(ds []Diagnostic) []Diagnostic {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Message, b.Message),
			cmp.Compare(a.Severity, b.Severity),
		)
	})
	return slices.Compact(ds)
}

// HasErrors reports whether any diagnostic has severity error.
func HasErrors(ds []Diagnostic) bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == SeverityError })
}
