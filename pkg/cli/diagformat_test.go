package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// goldenDiags exercise escaping (%, CR, LF, ":" and "," in file names),
// wide characters and tabs in snippets, and both severities.
var goldenDiags = []dispatching.Diagnostic{
	{File: "a,b:c/dispatching.yml", Line: 2, Column: 3, Severity: dispatching.SeverityError, Rule: "unknown-key", Message: "100% wrong\r\nsecond line"},
	{File: "dispatching.yml", Line: 1, Column: 7, Severity: dispatching.SeverityWarning, Rule: "unknown-template-variable", Message: `input "x" uses "{{ a }}"`},
	{File: "dispatching.yml", Line: 3, Column: 4, Severity: dispatching.SeverityError, Rule: "type", Message: "tab before"},
	{File: "dispatching.yml", Line: 9, Column: 1, Severity: dispatching.SeverityError, Rule: "syntax", Message: "no source line"},
}

var goldenSources = map[string][]string{
	"a,b:c/dispatching.yml": {"outbound: []", "日本 bogus: 1"},
	"dispatching.yml":       {"x: ab {{ a }}", "", "\tx:\tvalue"},
}

func goldenSource(file string, line int) (string, bool) {
	lines, ok := goldenSources[file]
	if !ok || line < 1 || line > len(lines) {
		return "", false
	}
	return lines[line-1], true
}

// checkGolden compares got with testdata/golden/NAME, or rewrites it with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/cli -run %s -update)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); rerun with -update if intended:\n%s", path, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	ds := dispatching.SortDiagnostics(append([]dispatching.Diagnostic(nil), goldenDiags...))
	for _, tc := range []struct {
		golden, format string
		color          bool
	}{
		{"text.golden", diagFormatText, false},
		{"text-color.golden", diagFormatText, true},
		{"json.golden", diagFormatJSON, false},
		{"github.golden", diagFormatGitHub, false},
		{"sarif.golden", diagFormatSARIF, false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := renderDiagnostics(&buf, tc.format, ds, goldenSource, tc.color, "v1.2.3"); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, buf.Bytes())
			if !tc.color && strings.Contains(buf.String(), "\x1b[") {
				t.Error("colour escape in uncoloured output")
			}
			if tc.color && !strings.Contains(buf.String(), "\x1b[") {
				t.Error("no colour in coloured output")
			}
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	for format, want := range map[string]string{diagFormatText: "", diagFormatJSON: "[]\n", diagFormatGitHub: ""} {
		var buf bytes.Buffer
		if err := renderDiagnostics(&buf, format, nil, nil, false, "v1.2.3"); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%s: got %q, want %q", format, buf.String(), want)
		}
	}
	var buf bytes.Buffer
	if err := renderDiagnostics(&buf, diagFormatSARIF, nil, nil, false, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Results []any `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil || len(log.Runs) != 1 || log.Runs[0].Results == nil || len(log.Runs[0].Results) != 0 {
		t.Errorf("empty SARIF: %v %s", err, buf.String())
	}
	if err := renderDiagnostics(&buf, "xml", nil, nil, false, "v1.2.3"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestGitHubEscaping(t *testing.T) {
	if got, want := escapeGitHubData("50% a\r\nb:c,d"), "50%25 a%0D%0Ab:c,d"; got != want {
		t.Errorf("data: got %q, want %q", got, want)
	}
	if got, want := escapeGitHubProperty("50% a\r\nb:c,d"), "50%25 a%0D%0Ab%3Ac%2Cd"; got != want {
		t.Errorf("property: got %q, want %q", got, want)
	}
}

func TestCaret(t *testing.T) {
	tests := []struct {
		line string
		col  int
		want string
	}{
		{"ref: 2024", 6, "     ^~~~"},
		{"ref: 2024", 1, "^~~~"},
		{"\tx: y", 2, "\t^~"},
		{"日本 x", 4, "     ^"},
		{"short", 40, "     ^"},
		{"", 1, "^"},
	}
	for _, tt := range tests {
		if got := diagCaret(tt.line, tt.col); got != tt.want {
			t.Errorf("diagCaret(%q, %d) = %q, want %q", tt.line, tt.col, got, tt.want)
		}
	}
}

// TestSARIFShape checks the fields GitHub code scanning requires.
func TestSARIFShape(t *testing.T) {
	var buf bytes.Buffer
	if err := renderSARIF(&buf, goldenDiags[:2], goldenSource, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q runs %d", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	ids := map[string]int{}
	for i, r := range run.Tool.Driver.Rules {
		if r.ID == "" || r.ShortDescription.Text == "" || r.HelpURI == "" {
			t.Errorf("rule %d incomplete: %+v", i, r)
		}
		ids[r.ID] = i
	}
	for _, res := range run.Results {
		i, ok := ids[res.RuleID]
		if !ok || i != res.RuleIndex {
			t.Errorf("result rule %q index %d, want %d", res.RuleID, res.RuleIndex, i)
		}
		loc := res.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI == "" || loc.Region.StartLine < 1 || loc.Region.StartColumn < 1 {
			t.Errorf("bad location %+v", loc)
		}
	}
	if got := run.Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "./a,b:c/dispatching.yml" {
		t.Errorf("uri %q", got)
	}
	if run.Results[1].Level != "warning" || run.Results[0].Level != "error" {
		t.Errorf("levels %q %q", run.Results[0].Level, run.Results[1].Level)
	}
}

func TestSARIFColumnUTF16(t *testing.T) {
	lines := map[string]string{"f": "a🚀b😀c", "g": "日本x", "h": "\xffz"}
	src := func(file string, line int) (string, bool) {
		l, ok := lines[file]
		return l, ok && line == 1
	}
	for _, tc := range []struct {
		file      string
		line, col int
		want      int
	}{
		{"f", 1, 1, 1}, // before anything
		{"f", 1, 2, 2}, // the rocket itself starts after "a"
		{"f", 1, 3, 4}, // "b": the rocket is two units
		{"f", 1, 5, 7}, // "c": two emoji before
		{"f", 1, 6, 8}, // just past the end
		{"f", 1, 8, 10},
		{"g", 1, 3, 3}, // BMP characters are one unit
		{"h", 1, 2, 2}, // invalid UTF-8 is one U+FFFD
		{"f", 2, 5, 5}, // unknown line: kept
		{"x", 1, 5, 5}, // unknown file: kept
	} {
		d := dispatching.Diagnostic{File: tc.file, Line: tc.line, Column: tc.col}
		if got := diagSARIFColumn(src, d); got != tc.want {
			t.Errorf("%s:%d:%d: got column %d, want %d", tc.file, tc.line, tc.col, got, tc.want)
		}
	}
	if got := diagSARIFColumn(nil, dispatching.Diagnostic{File: "f", Line: 1, Column: 5}); got != 5 {
		t.Errorf("no source: got %d, want 5", got)
	}
}

func TestSARIFVersions(t *testing.T) {
	for _, tc := range []struct{ in, version, semantic string }{
		{"v1.2.3", "1.2.3", "1.2.3"},
		{"v1.2.3-rc.1+abc", "1.2.3", "1.2.3-rc.1+abc"},
		{"0.4.0", "0.4.0", "0.4.0"},
		{"dev", "", "0.0.0-dev"},
		{"", "", "0.0.0-dev"},
	} {
		if v, s := sarifVersions(tc.in); v != tc.version || s != tc.semantic {
			t.Errorf("sarifVersions(%q) = %q, %q; want %q, %q", tc.in, v, s, tc.version, tc.semantic)
		}
	}
}
