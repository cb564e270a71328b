package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-runewidth"
	"github.com/muesli/termenv"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// Diagnostic output formats of validate.
const (
	diagFormatText   = "text"
	diagFormatJSON   = "json"
	diagFormatGitHub = "github"
	diagFormatSARIF  = "sarif"
)

var diagFormats = []string{diagFormatText, diagFormatJSON, diagFormatGitHub, diagFormatSARIF}

// diagSource gives the text of a file's lines for snippets; it returns
// false when the file or line is unknown.
type diagSource func(file string, line int) (string, bool)

// renderDiagnostics writes ds (already sorted) in the given format.
// toolVersion is dispatcher's version, for SARIF's tool.driver.version.
func renderDiagnostics(w io.Writer, format string, ds []dispatching.Diagnostic, src diagSource, color bool, toolVersion string) error {
	switch format {
	case diagFormatText:
		return renderText(w, ds, src, color)
	case diagFormatJSON:
		return renderJSON(w, ds)
	case diagFormatGitHub:
		return renderGitHub(w, ds)
	case diagFormatSARIF:
		return renderSARIF(w, ds, src, toolVersion)
	}
	return fmt.Errorf("unknown format %q", format)
}

// textStyles are the colours of the text format (actionlint's scheme).
type textStyles struct {
	path, sep, msg, rule, gutter, caret, warn lipgloss.Style
}

func newTextStyles(w io.Writer, color bool) textStyles {
	r := lipgloss.NewRenderer(w)
	if color {
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	grey := lipgloss.Color("8")
	// Tabs are kept: the caret line must expand them like the source line.
	base := r.NewStyle().TabWidth(lipgloss.NoTabConversion)
	return textStyles{
		path:   base.Foreground(lipgloss.Color("3")),
		sep:    base.Foreground(grey),
		msg:    base.Bold(true),
		rule:   base.Foreground(grey),
		gutter: base.Foreground(grey),
		caret:  base.Foreground(lipgloss.Color("2")),
		warn:   base.Foreground(lipgloss.Color("3")).Bold(true),
	}
}

// renderText prints "file:line:col: message [rule]" (warnings carry a
// "warning: " prefix), then the source line and a caret under the column.
func renderText(w io.Writer, ds []dispatching.Diagnostic, src diagSource, color bool) error {
	st := newTextStyles(w, color)
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(st.path.Render(termSafe(d.File)))
		b.WriteString(st.sep.Render(":"))
		fmt.Fprintf(&b, "%d", d.Line)
		b.WriteString(st.sep.Render(":"))
		fmt.Fprintf(&b, "%d", d.Column)
		b.WriteString(st.sep.Render(":"))
		b.WriteString(" ")
		if d.Severity == dispatching.SeverityWarning {
			b.WriteString(st.warn.Render("warning:"))
			b.WriteString(" ")
		}
		b.WriteString(st.msg.Render(termSafe(diagOneLine(d.Message))))
		b.WriteString(" ")
		b.WriteString(st.rule.Render("[" + d.Rule + "]"))
		b.WriteString("\n")
		if src == nil {
			continue
		}
		line, ok := src(d.File, d.Line)
		if !ok {
			continue
		}
		line, col := diagExcerpt(termSafeCol(line, d.Column))
		num := fmt.Sprintf("%d", d.Line)
		pad := strings.Repeat(" ", len(num))
		fmt.Fprintf(&b, "%s %s\n", pad, st.gutter.Render("|"))
		fmt.Fprintf(&b, "%s %s %s\n", num, st.gutter.Render("|"), line)
		fmt.Fprintf(&b, "%s %s %s\n", pad, st.gutter.Render("|"), st.caret.Render(diagCaret(line, col)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// diagExcerptWidth is the most characters of a source line shown under a
// diagnostic; a longer line (a minified file, a 64 KiB line) is cut around
// the column with "…" so one finding never floods the terminal.
const diagExcerptWidth = 160

// diagExcerpt returns the part of line to show and the 1-based column of
// the finding within it.
func diagExcerpt(line string, column int) (string, int) {
	runes := []rune(line)
	if len(runes) <= diagExcerptWidth {
		return line, column
	}
	start := 0
	if column-1 > diagExcerptWidth/2 {
		start = min(column-1-diagExcerptWidth/4, len(runes)-diagExcerptWidth)
	}
	end := min(start+diagExcerptWidth, len(runes))
	out := string(runes[start:end])
	if start > 0 {
		out = "…" + out
		column = column - start + 1
	}
	if end < len(runes) {
		out += "…"
	}
	return out, column
}

// diagOneLine keeps a message on its header line: line breaks become spaces.
func diagOneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// caret returns the indicator line for a 1-based character column: blanks
// as wide as the text before it (tabs kept, so terminals align), then "^"
// and "~" across the rest of the token up to the next space.
func diagCaret(line string, column int) string {
	runes := []rune(line)
	col := column - 1
	if col < 0 {
		col = 0
	}
	if col > len(runes) {
		col = len(runes)
	}
	var b strings.Builder
	for _, r := range runes[:col] {
		if r == '\t' {
			b.WriteRune('\t')
			continue
		}
		b.WriteString(strings.Repeat(" ", runewidth.RuneWidth(r)))
	}
	b.WriteString("^")
	for i := col + 1; i < len(runes) && runes[i] != ' ' && runes[i] != '\t'; i++ {
		b.WriteString(strings.Repeat("~", max(runewidth.RuneWidth(runes[i]), 1)))
	}
	return b.String()
}

// jsonDiagnostic is the stable JSON shape of one diagnostic.
type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
}

// renderJSON prints a JSON array (an empty array when clean).
func renderJSON(w io.Writer, ds []dispatching.Diagnostic) error {
	out := make([]jsonDiagnostic, len(ds))
	for i, d := range ds {
		out[i] = jsonDiagnostic{d.File, d.Line, d.Column, string(d.Severity), d.Rule, d.Message}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// renderGitHub prints GitHub Actions workflow commands, one annotation per
// diagnostic.
func renderGitHub(w io.Writer, ds []dispatching.Diagnostic) error {
	var b strings.Builder
	for _, d := range ds {
		cmd := "error"
		if d.Severity == dispatching.SeverityWarning {
			cmd = "warning"
		}
		fmt.Fprintf(&b, "::%s file=%s,line=%d,col=%d,title=%s::%s\n", cmd,
			escapeGitHubProperty(d.File), d.Line, d.Column,
			escapeGitHubProperty("dispatcher "+d.Rule), escapeGitHubData(d.Message))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeGitHubData escapes a workflow command's message as the Actions
// toolkit does.
func escapeGitHubData(s string) string {
	s = strings.ReplaceAll(s, "%", "%25")
	s = strings.ReplaceAll(s, "\r", "%0D")
	return strings.ReplaceAll(s, "\n", "%0A")
}

// escapeGitHubProperty escapes a workflow command's property value: the
// message escapes plus ":" and ",".
func escapeGitHubProperty(s string) string {
	s = escapeGitHubData(s)
	s = strings.ReplaceAll(s, ":", "%3A")
	return strings.ReplaceAll(s, ",", "%2C")
}

// SARIF 2.1.0, the subset GitHub code scanning reads.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool       sarifTool     `json:"tool"`
		Results    []sarifResult `json:"results"`
		ColumnKind string        `json:"columnKind"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name            string      `json:"name"`
		Version         string      `json:"version,omitempty"`
		SemanticVersion string      `json:"semanticVersion"`
		InformationURI  string      `json:"informationUri"`
		Rules           []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string       `json:"id"`
		Name                 string       `json:"name"`
		ShortDescription     sarifText    `json:"shortDescription"`
		FullDescription      sarifText    `json:"fullDescription"`
		HelpURI              string       `json:"helpUri"`
		DefaultConfiguration sarifRuleCfg `json:"defaultConfiguration"`
	}
	sarifRuleCfg struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           sarifRegion   `json:"region"`
	}
	sarifArtifact struct {
		URI       string `json:"uri"`
		URIBaseID string `json:"uriBaseId,omitempty"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn"`
	}
)

const docsBaseURL = "https://github.com/dispatcher-dev/dispatcher/blob/main/docs/validate.md"

// sarifColumnKind is the column unit the SARIF log declares. Diagnostics
// count Unicode code points; GitHub code scanning (like CodeQL, whose logs
// say "utf16CodeUnits") places columns in UTF-16 code units and does not
// document reading run.columnKind, so columns are converted and the unit is
// stated explicitly for other consumers.
const sarifColumnKind = "utf16CodeUnits"

// renderSARIF prints one SARIF 2.1.0 log with every rule and one result per
// diagnostic. Columns are converted to UTF-16 code units with the source
// line from src; without it (line unknown) the column is kept.
func renderSARIF(w io.Writer, ds []dispatching.Diagnostic, src diagSource, toolVersion string) error {
	rules := dispatching.Rules()
	index := map[string]int{}
	version, semantic := sarifVersions(toolVersion)
	driver := sarifDriver{Name: "dispatcher", Version: version, SemanticVersion: semantic, InformationURI: "https://github.com/dispatcher-dev/dispatcher", Rules: make([]sarifRule, len(rules))}
	for i, r := range rules {
		index[r.ID] = i
		driver.Rules[i] = sarifRule{
			ID:                   r.ID,
			Name:                 sarifRuleName(r.ID),
			ShortDescription:     sarifText{r.Summary},
			FullDescription:      sarifText{r.Summary},
			HelpURI:              docsBaseURL + "#rule-" + r.ID,
			DefaultConfiguration: sarifRuleCfg{Level: diagSARIFLevel(r.Severity)},
		}
	}
	results := make([]sarifResult, 0, len(ds))
	for _, d := range ds {
		idx, ok := index[d.Rule]
		if !ok {
			idx = -1
		}
		results = append(results, sarifResult{
			RuleID:    d.Rule,
			RuleIndex: idx,
			Level:     diagSARIFLevel(d.Severity),
			Message:   sarifText{d.Message},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: diagSARIFURI(d.File),
				Region:           sarifRegion{StartLine: d.Line, StartColumn: diagSARIFColumn(src, d)},
			}}},
		})
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results, ColumnKind: sarifColumnKind}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log)
}

// diagSARIFColumn converts d's 1-based code-point column to a 1-based
// UTF-16 code-unit column: every character before it outside the Basic
// Multilingual Plane (an emoji, say) counts twice. Columns past the end of
// the line (a finding at the line break) add one unit per column.
func diagSARIFColumn(src diagSource, d dispatching.Diagnostic) int {
	if src == nil || d.Column <= 1 {
		return d.Column
	}
	line, ok := src(d.File, d.Line)
	if !ok {
		return d.Column
	}
	col, n := 1, 0
	for _, r := range line {
		if n == d.Column-1 {
			return col
		}
		col += utf16.RuneLen(r) // invalid UTF-8 decodes to U+FFFD: one unit
		n++
	}
	return col + (d.Column - 1 - n)
}

func diagSARIFLevel(s dispatching.Severity) string {
	if s == dispatching.SeverityWarning {
		return "warning"
	}
	return "error"
}

// sarifURI turns a path into a SARIF artifact location: relative paths are
// relative to the repository root (%SRCROOT%), absolute ones file URIs.
func diagSARIFURI(path string) sarifArtifact {
	p := filepath.ToSlash(path)
	if filepath.IsAbs(path) {
		return sarifArtifact{URI: (&url.URL{Scheme: "file", Path: p}).String()}
	}
	p = strings.TrimPrefix(p, "./")
	return sarifArtifact{URI: (&url.URL{Path: p}).String(), URIBaseID: "%SRCROOT%"}
}

// sarifSemverRE matches a release version, v1.2.3 with an optional
// pre-release and build.
var sarifSemverRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)((?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$`)

// sarifVersions gives tool.driver.version (numeric, as SARIF consumers
// compare it; "" when the build has no release number) and
// tool.driver.semanticVersion for dispatcher's version: v1.2.3-rc.1 is
// "1.2.3" and "1.2.3-rc.1"; an unreleased build ("dev", a commit) is
// "0.0.0-dev", a SemVer pre-release that sorts before every release.
func sarifVersions(v string) (version, semantic string) {
	if m := sarifSemverRE.FindStringSubmatch(v); m != nil {
		return m[1], m[1] + m[2]
	}
	return "", "0.0.0-dev"
}

// sarifRuleNames are the readable names of the rules whose id is one
// word: SARIF wants a rule's name to differ from its id (the SARIF
// Multitool compares them ignoring case), so "type" cannot be "Type".
var sarifRuleNames = map[string]string{
	dispatching.RuleSyntax:  "InvalidYamlSyntax",
	dispatching.RuleType:    "WrongValueType",
	dispatching.RuleSchema:  "SchemaViolation",
	dispatching.RuleVersion: "UnsupportedVersion",
	// One-letter words are not Pascal identifiers to the Multitool
	// (SARIF2012).
	dispatching.RuleWorkflowNotAFile: "WorkflowNotFileName",
}

// sarifRuleName is a rule's SARIF name: an entry of sarifRuleNames, else
// the id in PascalCase ("unknown-key" is "UnknownKey").
func sarifRuleName(id string) string {
	if n, ok := sarifRuleNames[id]; ok {
		return n
	}
	return diagPascalCase(id)
}

func diagPascalCase(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
