package dispatching

// MaxFileSize is the largest dispatching.yml accepted (64 KiB); larger files
// are rejected before parsing.
const MaxFileSize = 64 << 10

// Parse parses and validates one dispatching.yml. file is the name used in
// diagnostics. It returns the Config when the file is valid (no diagnostic
// of severity error); otherwise Config is nil and the diagnostics say why,
// each positioned. An empty file (zero bytes) is not valid here: callers
// that look files up treat empty content as "missing" before calling Parse.
// TODO(skeleton): implemented by the foundation issue.
func Parse(file string, data []byte) (*Config, []Diagnostic) {
	return nil, []Diagnostic{{File: file, Line: 1, Column: 1, Severity: SeverityError, Rule: "syntax", Message: "parser not built yet"}}
}
