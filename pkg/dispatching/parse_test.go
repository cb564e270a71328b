package dispatching

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// want is one expected diagnostic: position, rule and a fragment of the
// message.
type want struct {
	line, col int
	rule      string
	msg       string
}

func (w want) String() string { return fmt.Sprintf("%d:%d [%s] %s", w.line, w.col, w.rule, w.msg) }

func checkDiags(t *testing.T, got []Diagnostic, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(wants), dumpDiags(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Line != w.line || g.Column != w.col || g.Rule != w.rule || !strings.Contains(g.Message, w.msg) {
			t.Errorf("diagnostic %d:\n got  %d:%d [%s] %s\n want %s", i, g.Line, g.Column, g.Rule, g.Message, w)
		}
		if g.File != "dispatching.yml" {
			t.Errorf("diagnostic %d: file %q", i, g.File)
		}
	}
}

func dumpDiags(ds []Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  %d:%d %s [%s] %s\n", d.Line, d.Column, d.Severity, d.Rule, d.Message)
	}
	return b.String()
}

const validHead = "outbound:\n  - source:\n      workflow: ci.yml\n    targets:\n"

// TestParseErrors covers every strictness rule with the exact position.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		wants []want
	}{
		{"unknown top-level key", "outbound: []\nfoo: 1\n", []want{{2, 1, RuleUnknownKey, `unknown key "foo" at the top level; expected one of "inbound", "outbound" or "version"`}}},
		{"unknown key in rule", validHead + "      - repository: a/b\n        workflow: w.yml\n    extra: 1\n", []want{{7, 5, RuleUnknownKey, `unknown key "extra" at outbound[0]; expected one of "source" or "targets"`}}},
		{"unknown key in outbound source", "outbound:\n  - source:\n      workflow: ci.yml\n      repository: x\n    targets:\n      - {repository: a, workflow: w}\n", []want{{4, 7, RuleUnknownKey, `unknown key "repository" at outbound[0].source; expected "workflow"`}}},
		{"unknown key in outbound target", validHead + "      - repository: a/b\n        workflow: w.yml\n        with: {}\n", []want{{7, 9, RuleUnknownKey, `unknown key "with" at outbound[0].targets[0]; expected one of "inputs", "ref", "repository" or "workflow"`}}},
		{"unknown key in inbound source", "inbound:\n  - source: {repository: a, workflow: b, branch: main}\n    targets: [{workflow: w}]\n", []want{{2, 42, RuleUnknownKey, `unknown key "branch" at inbound[0].source`}}},
		{"unknown key in inbound target", "inbound:\n  - source: {repository: a, workflow: b}\n    targets:\n      - workflow: w\n        accept: [x]\n", []want{{5, 9, RuleUnknownKey, `unknown key "accept" at inbound[0].targets[0]; expected one of "accept_inputs" or "workflow"`}}},
		{"duplicate top-level key", "outbound: []\ninbound: []\noutbound: []\n", []want{{3, 1, RuleDuplicateKey, `duplicate key "outbound": map keys must be unique (first defined at line 1, column 1)`}}},
		{"duplicate nested key", validHead + "      - repository: a/b\n        workflow: w.yml\n        workflow: x.yml\n", []want{{7, 9, RuleDuplicateKey, `duplicate key "workflow"`}}},
		{"duplicate key in flow map", validHead + "      - {repository: a/b, workflow: w, repository: c}\n", []want{{5, 40, RuleDuplicateKey, `duplicate key "repository"`}}},
		{"duplicate input key quoted and plain", validHead + "      - repository: a/b\n        workflow: w\n        inputs:\n          1: x\n          \"1\": y\n", []want{{9, 11, RuleDuplicateKey, `duplicate key "1"`}}},
		{"merge key", "base: &b {workflow: ci.yml}\noutbound:\n  - source:\n      <<: *b\n    targets: [{repository: a, workflow: w}]\n", []want{
			{1, 1, RuleUnknownKey, `unknown key "base"`},
			{4, 7, RuleUnknownKey, `unknown key "<<" at outbound[0].source; expected "workflow" (YAML merge keys are not supported`},
		}},
		{"number where string required", validHead + "      - repository: a/b\n        workflow: 12345\n", []want{{6, 19, RuleType, `outbound[0].targets[0].workflow must be a string, got the integer 12345; quote it to keep it as text: "12345"`}}},
		{"ref 2024", validHead + "      - repository: a/b\n        workflow: w\n        ref: 2024\n", []want{{7, 14, RuleType, `ref must be a string, got the integer 2024`}}},
		{"float", validHead + "      - repository: a/b\n        workflow: w\n        ref: 1.0\n", []want{{7, 14, RuleType, `got the number 1.0`}}},
		{"exponent float is not a string in YAML 1.2", validHead + "      - repository: a/b\n        workflow: 1e3\n", []want{{6, 19, RuleType, `got the number 1e3`}}},
		{"bool", validHead + "      - repository: a/b\n        workflow: w\n        inputs: {debug: true}\n", []want{{7, 25, RuleType, `inputs.debug must be a string, got the boolean true`}}},
		{"input number", validHead + "      - repository: a/b\n        workflow: w\n        inputs:\n          count: 5\n", []want{{8, 18, RuleType, `inputs.count must be a string, got the integer 5`}}},
		{"explicit null value", validHead + "      - repository: a/b\n        workflow: w\n        ref: null\n", []want{{7, 14, RuleType, `ref must be a string, got null (null)`}}},
		{"empty value", validHead + "      - repository: a/b\n        workflow:\n", []want{{6, 9, RuleType, `workflow must be a string, got an empty value (null)`}}},
		{"null outbound", "outbound:\ninbound: []\n", []want{{1, 1, RuleType, `outbound must be a list, got an empty value (null); write [] for an empty list or remove the key`}}},
		{"null inbound", "inbound: ~\n", []want{{1, 10, RuleType, `inbound must be a list, got null (~)`}}},
		{"empty list entry is reported at its dash", "inbound:\n  - source: {repository: a, workflow: b}\n    targets:\n      - workflow: w\n        accept_inputs:\n          - x\n          -\n", []want{{7, 11, RuleType, `accept_inputs[1] must be a string, got an empty value`}}},
		{"empty rule entry is reported at its dash", "outbound:\n  -\n", []want{{2, 3, RuleType, `outbound[0] must be a mapping, got an empty value`}}},
		{"empty target entry is reported at its dash", "outbound:\n  - source: {workflow: a}\n    targets:\n      - \n", []want{{4, 7, RuleType, `outbound[0].targets[0] must be a mapping, got an empty value`}}},
		{"null accept_inputs", "inbound:\n  - source: {repository: a, workflow: b}\n    targets:\n      - workflow: w\n        accept_inputs:\n", []want{{5, 9, RuleType, `accept_inputs must be a list, got an empty value`}}},
		{"outbound not a list", "outbound: not-an-array\n", []want{{1, 11, RuleType, `outbound must be a list, got the string "not-an-array"`}}},
		{"empty targets", validHead[:len(validHead)-1] + " []\n", []want{{4, 14, RuleEmptyValue, `outbound[0].targets must list at least 1 entry`}}},
		{"empty inbound targets", "inbound:\n  - source: {repository: a, workflow: b}\n    targets: []\n", []want{{3, 14, RuleEmptyValue, `inbound[0].targets must list at least 1 entry`}}},
		{"empty string", validHead + "      - repository: ''\n        workflow: w\n", []want{{5, 21, RuleEmptyValue, `outbound[0].targets[0].repository must not be empty`}}},
		{"empty accept_inputs entry", "inbound:\n  - source: {repository: a, workflow: b}\n    targets:\n      - workflow: w\n        accept_inputs: [a, '']\n", []want{{5, 28, RuleEmptyValue, `accept_inputs[1] must not be empty`}}},
		{"empty input key", validHead + "      - repository: a/b\n        workflow: w\n        inputs: {'': x}\n", []want{{7, 18, RuleEmptyValue, `outbound[0].targets[0].inputs has an empty input name`}}},
		{"missing source repository", "inbound:\n  - source:\n      workflow: ci.yml\n    targets: [{workflow: w}]\n", []want{{2, 5, RuleRequiredKey, `inbound[0].source is missing the required key "repository"`}}},
		{"missing targets", "outbound:\n  - source: {workflow: ci.yml}\n", []want{{2, 5, RuleRequiredKey, `outbound[0] is missing the required key "targets"`}}},
		{"missing target workflow", validHead + "      - repository: a/b\n", []want{{5, 9, RuleRequiredKey, `outbound[0].targets[0] is missing the required key "workflow"`}}},
		{"repository with two slashes", validHead + "      - repository: acme/team/deploy\n        workflow: w\n", []want{{5, 21, RuleRepositoryFormat, `outbound[0].targets[0].repository "acme/team/deploy" is not a repository: expected NAME or OWNER/NAME`}}},
		{"repository with leading slash", validHead + "      - repository: /deploy\n        workflow: w\n", []want{{5, 21, RuleRepositoryFormat, `expected NAME or OWNER/NAME`}}},
		{"repository with trailing slash", validHead + "      - repository: acme/\n        workflow: w\n", []want{{5, 21, RuleRepositoryFormat, `expected NAME or OWNER/NAME`}}},
		{"inbound repository format", "inbound:\n  - source: {repository: a//b, workflow: b}\n    targets: [{workflow: w}]\n", []want{{2, 26, RuleRepositoryFormat, `inbound[0].source.repository "a//b"`}}},
		{"version 2", "version: 2\n", []want{{1, 10, RuleVersion, `unsupported version: got the integer 2, expected the integer 1`}}},
		{"version string", "version: \"1\"\n", []want{{1, 10, RuleVersion, `got the string "1"`}}},
		{"multi-document", "outbound: []\n---\ninbound: []\n", []want{{2, 1, RuleMultipleDocuments, `a second YAML document starts here`}}},
		{"multi-document trailing empty", "outbound: []\n---\n", []want{{2, 1, RuleMultipleDocuments, `exactly one document`}}},
		{"document after a document end marker", "outbound: []\n...\ninbound: []\n", []want{{3, 1, RuleMultipleDocuments, `after the document end marker (...); dispatching.yml must hold exactly one document`}}},
		{"empty document before the content", "---\n---\noutbound: []\n", []want{{2, 1, RuleMultipleDocuments, `exactly one document (remove this ---)`}}},
		{"tab indentation", "outbound:\n\t- source: {workflow: a}\n", []want{{2, 1, RuleSyntax, `invalid YAML: a tab character cannot indent YAML; indent with spaces`}}},
		{"syntax error", "outbound: [a, b\n", []want{{1, 11, RuleSyntax, `invalid YAML: sequence end token ']' not found`}}},
		{"top-level list", "- outbound\n", []want{{1, 1, RuleType, `the top level must be a mapping with outbound and/or inbound rules, got a list`}}},
		{"top-level scalar", "hello\n", []want{{1, 1, RuleType, `the top level must be a mapping with outbound and/or inbound rules, got the string "hello"`}}},
		{"top-level null", "null\n", []want{{1, 1, RuleType, `got null (null)`}}},
		{"comment only", "# nothing here\n", []want{{1, 1, RuleEmptyDocument, `the file has no content`}}},
		{"whitespace only", "  \n\n", []want{{1, 1, RuleEmptyDocument, `the file has no content`}}},
		{"zero bytes", "", []want{{1, 1, RuleEmptyDocument, `the file has no content`}}},
		{"unsupported tag", validHead + "      - repository: a/b\n        workflow: !!binary d2Y=\n", []want{{6, 19, RuleUnsupportedYAML, `unsupported tag !!binary`}}},
		{"tag on a wrong-typed value is reported once", validHead + "      - repository: a/b\n        workflow: w\n        ref: !env 5\n", []want{{7, 14, RuleUnsupportedYAML, `unsupported tag !env`}}},
		{"custom tag", validHead + "      - repository: a/b\n        workflow: !env WF\n", []want{{6, 19, RuleUnsupportedYAML, `unsupported tag !env`}}},
		{"unknown alias", validHead + "      - repository: a/b\n        workflow: *nope\n", []want{{6, 19, RuleSyntax, `alias *nope refers to no anchor defined before it`}}},
		{"invalid utf-8", "outbound: []\n# \xff\n", []want{{2, 3, RuleSyntax, `not valid UTF-8`}}},
		{"several problems, one message each", validHead + "      - repository: a/b/c\n        workflow: 1\n        ref: ''\n        bogus: x\n", []want{
			{5, 21, RuleRepositoryFormat, `"a/b/c"`},
			{6, 19, RuleType, `workflow must be a string`},
			{7, 14, RuleEmptyValue, `ref must not be empty`},
			{8, 9, RuleUnknownKey, `unknown key "bogus"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := Parse("dispatching.yml", []byte(tt.src))
			if cfg != nil {
				t.Errorf("Parse returned a config for an invalid file")
			}
			for _, d := range ds {
				if d.Severity != SeverityError {
					t.Errorf("severity %q, want error: %v", d.Severity, d)
				}
			}
			checkDiags(t, ds, tt.wants)
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	data := []byte("outbound: []\n" + "#" + strings.Repeat("x", MaxFileSize) + "\n")
	cfg, ds := Parse("dispatching.yml", data)
	if cfg != nil {
		t.Fatal("config returned for an oversized file")
	}
	checkDiags(t, ds, []want{{1, 1, RuleFileTooLarge, fmt.Sprintf("file is %d bytes, more than the limit of 65536 bytes", len(data))}})

	// Exactly the limit is fine.
	ok := []byte("outbound: []\n#" + strings.Repeat("x", MaxFileSize-15) + "\n")
	if len(ok) != MaxFileSize {
		t.Fatalf("setup: %d bytes", len(ok))
	}
	if cfg, ds := Parse("dispatching.yml", ok); cfg == nil {
		t.Fatalf("file of exactly MaxFileSize rejected: %s", dumpDiags(ds))
	}
}

func TestParseBillionLaughs(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	src := []byte(b.String())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg, ds := Parse("dispatching.yml", src)
	runtime.ReadMemStats(&after)

	if cfg != nil {
		t.Fatal("config returned for a billion-laughs file")
	}
	found := false
	for _, d := range ds {
		if d.Rule == RuleAliasLimit {
			found = true
			if d.Line < 2 {
				t.Errorf("alias-limit reported at line %d, want the alias that overflowed", d.Line)
			}
		}
	}
	if !found {
		t.Fatalf("no %s diagnostic:\n%s", RuleAliasLimit, dumpDiags(ds))
	}
	// A full expansion would allocate 10^10 nodes; the bound keeps it tiny.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("parsing allocated %d MiB, want under 256 MiB (a full expansion needs terabytes)", alloc>>20)
	}
}

func TestParseValid(t *testing.T) {
	src := `# yaml-language-server: $schema=https://example.com/s.json
version: 1
outbound:
  - source:
      workflow: .github/workflows/ci.yml
    targets:
      - repository: acme/deploy
        workflow: cd.yml
        ref: 2024-01-01
        inputs:
          sha: "{{ source.sha }}"
          environment: production
          1: yes
          flag: off
      - repository: web
        workflow: build.yml
        inputs: {}
inbound:
  - source:
      repository: acme/api
      workflow: ci.yml
    targets:
      - workflow: deploy.yml
        accept_inputs: [git_sha, environment]
      - workflow: other.yml
      - workflow: none.yml
        accept_inputs: []
`
	cfg, ds := Parse("dispatching.yml", []byte(src))
	if len(ds) != 0 || cfg == nil {
		t.Fatalf("valid file rejected:\n%s", dumpDiags(ds))
	}
	wantCfg := &Config{
		Version: 1,
		Outbound: []OutboundRule{{
			Pos:    Pos{4, 5},
			Source: OutboundSource{Pos: Pos{4, 5}, Workflow: ".github/workflows/ci.yml", WorkflowPos: Pos{5, 17}},
			Targets: []OutboundTarget{
				{Pos: Pos{7, 9}, Repository: "acme/deploy", Workflow: "cd.yml", WorkflowPos: Pos{8, 19}, Ref: "2024-01-01", Inputs: []Input{
					{Pos: Pos{11, 11}, Key: "sha", Value: "{{ source.sha }}", ValuePos: Pos{11, 16}},
					{Pos: Pos{12, 11}, Key: "environment", Value: "production", ValuePos: Pos{12, 24}},
					{Pos: Pos{13, 11}, Key: "1", Value: "yes", ValuePos: Pos{13, 14}},
					{Pos: Pos{14, 11}, Key: "flag", Value: "off", ValuePos: Pos{14, 17}},
				}},
				{Pos: Pos{15, 9}, Repository: "web", Workflow: "build.yml", WorkflowPos: Pos{16, 19}},
			},
		}},
		Inbound: []InboundRule{{
			Pos:    Pos{19, 5},
			Source: InboundSource{Pos: Pos{19, 5}, Repository: "acme/api", Workflow: "ci.yml", WorkflowPos: Pos{21, 17}},
			Targets: []InboundTarget{
				{Pos: Pos{23, 9}, Workflow: "deploy.yml", WorkflowPos: Pos{23, 19}, AcceptInputs: []string{"git_sha", "environment"}, AcceptInputsPos: []Pos{{24, 25}, {24, 34}}},
				{Pos: Pos{25, 9}, Workflow: "other.yml", WorkflowPos: Pos{25, 19}},
				{Pos: Pos{26, 9}, Workflow: "none.yml", WorkflowPos: Pos{26, 19}, AcceptInputs: []string{}, AcceptInputsPos: []Pos{}},
			},
		}},
	}
	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	// Absent accept_inputs (nil) and [] (empty, non-nil) are different states.
	if cfg.Inbound[0].Targets[1].AcceptInputs != nil || cfg.Inbound[0].Targets[2].AcceptInputs == nil {
		t.Errorf("accept_inputs absent/empty states not kept")
	}
}

// TestParseConformance follows the original service's schema tests
// (behaviour.md section 10, dispatching-schema), in our own words.
func TestParseConformance(t *testing.T) {
	t.Run("empty mapping gives empty rule lists", func(t *testing.T) {
		cfg, ds := Parse("dispatching.yml", []byte("{}\n"))
		if cfg == nil || cfg.Outbound == nil || cfg.Inbound == nil || len(cfg.Outbound)+len(cfg.Inbound) != 0 {
			t.Fatalf("got %+v %v", cfg, ds)
		}
	})
	t.Run("target without ref or inputs", func(t *testing.T) {
		cfg, _ := Parse("dispatching.yml", []byte(validHead+"      - repository: r\n        workflow: w\n"))
		tg := cfg.Outbound[0].Targets[0]
		if tg.Ref != "" || tg.Inputs != nil {
			t.Errorf("got ref %q inputs %v", tg.Ref, tg.Inputs)
		}
	})
	t.Run("duplicate top-level key mentions uniqueness", func(t *testing.T) {
		_, ds := Parse("dispatching.yml", []byte("outbound: []\noutbound: []\n"))
		if len(ds) != 1 || !strings.Contains(strings.ToLower(ds[0].Message), "unique") {
			t.Errorf("got %v", ds)
		}
	})
	t.Run("yes/no/on/off and dates are strings", func(t *testing.T) {
		cfg, ds := Parse("dispatching.yml", []byte(validHead+"      - repository: yes\n        workflow: on\n        ref: 2024-01-01\n        inputs: {a: no, b: off, c: 2001-12-14t21:59:43.10-05:00, d: 1_000, e: 0b101, f: 60:30}\n"))
		if cfg == nil {
			t.Fatalf("rejected: %s", dumpDiags(ds))
		}
		tg := cfg.Outbound[0].Targets[0]
		got := []string{tg.Repository, tg.Workflow, tg.Ref}
		for _, in := range tg.Inputs {
			got = append(got, in.Value)
		}
		want := []string{"yes", "on", "2024-01-01", "no", "off", "2001-12-14t21:59:43.10-05:00", "1_000", "0b101", "60:30"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("core schema numbers are not strings", func(t *testing.T) {
		for _, v := range []string{"0o17", "0x1F", "+12", "-3", ".5", "1.", "1e3", ".inf", "-.Inf", ".NaN", "True", "FALSE", "017"} {
			_, ds := Parse("dispatching.yml", []byte(validHead+"      - repository: r\n        workflow: "+v+"\n"))
			if len(ds) != 1 || ds[0].Rule != RuleType {
				t.Errorf("%s: got %s", v, dumpDiags(ds))
			}
		}
	})
	t.Run("quoted and !!str values are strings", func(t *testing.T) {
		cfg, ds := Parse("dispatching.yml", []byte(validHead+"      - repository: '123'\n        workflow: !!str 5\n        ref: \"true\"\n"))
		if cfg == nil {
			t.Fatalf("rejected: %s", dumpDiags(ds))
		}
		tg := cfg.Outbound[0].Targets[0]
		if tg.Repository != "123" || tg.Workflow != "5" || tg.Ref != "true" {
			t.Errorf("got %+v", tg)
		}
	})
	t.Run("anchors and aliases work", func(t *testing.T) {
		cfg, ds := Parse("dispatching.yml", []byte("outbound:\n  - source: {workflow: ci.yml}\n    targets: &t\n      - {repository: a, workflow: w}\n  - source: {workflow: nightly.yml}\n    targets: *t\n"))
		if cfg == nil {
			t.Fatalf("rejected: %s", dumpDiags(ds))
		}
		if got := cfg.Outbound[1].Targets[0].Repository; got != "a" {
			t.Errorf("alias target repository %q", got)
		}
	})
	t.Run("block scalars are strings", func(t *testing.T) {
		cfg, ds := Parse("dispatching.yml", []byte(validHead+"      - repository: r\n        workflow: w\n        inputs:\n          note: |-\n            hello\n"))
		if cfg == nil || cfg.Outbound[0].Targets[0].Inputs[0].Value != "hello" {
			t.Fatalf("got %+v %s", cfg, dumpDiags(ds))
		}
	})
	t.Run("version 1 in any numeric notation", func(t *testing.T) {
		for _, v := range []string{"1", "1.0", "0x1", "+1", "!!int 1"} {
			cfg, ds := Parse("dispatching.yml", []byte("version: "+v+"\n"))
			if cfg == nil || cfg.Version != 1 {
				t.Errorf("version: %s: got %+v %s", v, cfg, dumpDiags(ds))
			}
		}
	})
	t.Run("one document with markers, directives and comments", func(t *testing.T) {
		for _, src := range []string{
			"%YAML 1.2\n---\noutbound: []\n...\n# end\n",
			"outbound: []\n...\n...\n",
			"--- # start\noutbound: []\n... # end\n",
			"outbound:\n  - source: {workflow: ci.yml}\n    targets:\n      - repository: a\n        workflow: w\n        inputs:\n          note: |\n            ---\n            ...\n            x\n",
		} {
			if cfg, ds := Parse("dispatching.yml", []byte(src)); cfg == nil {
				t.Errorf("%q rejected: %s", src, dumpDiags(ds))
			}
		}
	})
	t.Run("document markers and a BOM are fine", func(t *testing.T) {
		if cfg, ds := Parse("dispatching.yml", []byte("\xef\xbb\xbf---\noutbound: []\n...\n")); cfg == nil {
			t.Fatalf("rejected: %s", dumpDiags(ds))
		}
	})
}
