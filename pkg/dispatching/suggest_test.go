package dispatching

import (
	"strings"
	"testing"
)

// TestUnknownKeySuggestion pins the whole message of an unknown key that is
// a likely typo of a key allowed at its level, and of one that is not.
func TestUnknownKeySuggestion(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"target", "outbound:\n  - source: {workflow: ci.yml}\n    target: []\n",
			`unknown key "target" at outbound[0]; expected one of "source" or "targets"; did you mean "targets"?`},
		{"input", validHead + "      - repository: a/b\n        workflow: w.yml\n        input: {a: b}\n",
			`unknown key "input" at outbound[0].targets[0]; expected one of "inputs", "ref", "repository" or "workflow"; did you mean "inputs"?`},
		{"accept_input", "inbound:\n  - source: {repository: a, workflow: b}\n    targets:\n      - workflow: w\n        accept_input: [x]\n",
			`unknown key "accept_input" at inbound[0].targets[0]; expected one of "accept_inputs" or "workflow"; did you mean "accept_inputs"?`},
		{"inbounds", "inbounds: []\n",
			`unknown key "inbounds" at the top level; expected one of "inbound", "outbound" or "version"; did you mean "inbound"?`},
		{"worflow", "outbound:\n  - source:\n      worflow: ci.yml\n    targets: [{repository: a, workflow: w}]\n",
			`unknown key "worflow" at outbound[0].source; expected "workflow"; did you mean "workflow"?`},
		{"swapped letters", "inbound:\n  - source: {repository: a, wrokflow: b}\n    targets: [{workflow: w}]\n",
			`unknown key "wrokflow" at inbound[0].source; expected one of "repository" or "workflow"; did you mean "workflow"?`},
		{"case", "Outbound: []\n",
			`unknown key "Outbound" at the top level; expected one of "inbound", "outbound" or "version"; did you mean "outbound"?`},
		{"short key, one edit", validHead + "      - repository: a/b\n        workflow: w.yml\n        rev: main\n",
			`unknown key "rev" at outbound[0].targets[0]; expected one of "inputs", "ref", "repository" or "workflow"; did you mean "ref"?`},
		{"nothing close", validHead + "      - repository: a/b\n        workflow: w.yml\n        with: {}\n",
			`unknown key "with" at outbound[0].targets[0]; expected one of "inputs", "ref", "repository" or "workflow"`},
		{"short key, two edits", "outbound: []\nfoo: 1\n",
			`unknown key "foo" at the top level; expected one of "inbound", "outbound" or "version"`},
		{"prefix too short", "inbound:\n  - source: {repository: a, workflow: b}\n    targets:\n      - workflow: w\n        accept: [x]\n",
			`unknown key "accept" at inbound[0].targets[0]; expected one of "accept_inputs" or "workflow"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A misspelt required key is also reported missing
			// (required-key); only the unknown-key message is checked.
			_, ds := Parse("dispatching.yml", []byte(tt.src))
			var got []string
			for _, d := range ds {
				if d.Rule == RuleUnknownKey {
					got = append(got, d.Message)
				}
			}
			if len(got) != 1 {
				t.Fatalf("want one unknown-key diagnostic, got:\n%s", dumpDiags(ds))
			}
			if got[0] != tt.want {
				t.Errorf("message\n got  %s\n want %s", got[0], tt.want)
			}
		})
	}
}

func TestSuggestKey(t *testing.T) {
	allowed := []string{"inputs", "ref", "repository", "workflow"}
	for _, tt := range []struct {
		key, want string
	}{
		{"workflows", "workflow"},
		{"wrkflw", "workflow"}, // two deletions
		{"wkflw", ""},          // three
		{"repositroy", "repository"},
		{"reff", "ref"},
		{"re", "ref"},
		{"r", ""}, // two insertions for a 1-character key
		{"", ""},
		{"INPUTS", "inputs"},
		{"rep", "ref"}, // ref is one edit; repository is far
		{strings.Repeat("x", 1<<16), ""},
	} {
		got, ok := suggestKey(tt.key, allowed)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("suggestKey(%.20q) = %q, %v; want %q", tt.key, got, ok, tt.want)
		}
	}
	// Ties go to the first allowed key.
	if got, _ := suggestKey("ab", []string{"aa", "bb"}); got != "aa" {
		t.Errorf("tie: got %q, want aa", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"kitten", "sitting", 3},
		{"ab", "ba", 1}, // a swap of neighbours is one edit
		{"worflow", "workflow", 1},
		{"日本", "日本語", 1}, // characters, not bytes
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}
