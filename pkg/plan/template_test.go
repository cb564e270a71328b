package plan

import (
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

func testVars() TemplateVars {
	return TemplateVars{
		"source.sha":         "abc123def456abc123def456abc123def456abc1",
		"source.head_branch": "main",
		"source.run_id":      "987654321",
		"source.run_url":     "https://github.com/org/repo/actions/runs/987654321",
		"source.repo":        "org/repo",
		"source.workflow":    "ci.yml",
	}
}

func inputs(kv ...string) []dispatching.Input {
	var out []dispatching.Input
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, dispatching.Input{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// The template resolver cases of the original, in our own words, plus the
// edge cases observed by running it.
func TestResolveInputs(t *testing.T) {
	v := testVars()
	tests := []struct {
		name    string
		vars    TemplateVars
		in      []dispatching.Input
		want    map[string]string
		wantErr string // regexp the error must match
	}{
		{name: "sha", in: inputs("k", "{{ source.sha }}"), want: map[string]string{"k": v["source.sha"]}},
		{name: "head branch", in: inputs("k", "{{ source.head_branch }}"), want: map[string]string{"k": "main"}},
		{name: "run id", in: inputs("k", "{{ source.run_id }}"), want: map[string]string{"k": "987654321"}},
		{name: "run url", in: inputs("k", "{{ source.run_url }}"), want: map[string]string{"k": v["source.run_url"]}},
		{name: "repo", in: inputs("k", "{{ source.repo }}"), want: map[string]string{"k": "org/repo"}},
		{name: "workflow", in: inputs("k", "{{ source.workflow }}"), want: map[string]string{"k": "ci.yml"}},
		{name: "literal unchanged", in: inputs("env", "production"), want: map[string]string{"env": "production"}},
		{
			name: "templates and literals mixed",
			in:   inputs("a", "{{ source.repo }}@{{source.sha}}", "b", "{{ source.run_id }}", "c", "literal"),
			want: map[string]string{"a": "org/repo@" + v["source.sha"], "b": "987654321", "c": "literal"},
		},
		{name: "extra spaces in token", in: inputs("k", "{{  source.sha  }}"), want: map[string]string{"k": v["source.sha"]}},
		{name: "unknown variable", in: inputs("k", "{{ source.unknown_var }}"), wantErr: `(?i)unknown template variable.*"source\.unknown_var"`},
		{name: "unknown variable lists supported ones", in: inputs("k", "{{ source.not_real }}"),
			wantErr: `source\.sha, source\.head_branch, source\.run_id, source\.run_url, source\.repo, source\.workflow`},
		{name: "unknown variable names the input key", in: inputs("deploy_key", "{{ source.nope }}"), wantErr: `input "deploy_key"`},
		{name: "no inputs", in: nil, want: nil},
		{name: "1025 characters", in: inputs("k", strings.Repeat("x", 1025)), wantErr: `(?i)maximum length of 1024`},
		{name: "1024 characters", in: inputs("k", strings.Repeat("x", 1024)), want: map[string]string{"k": strings.Repeat("x", 1024)}},
		{name: "newline", in: inputs("k", "line1\nline2"), wantErr: `(?i)control characters`},
		{name: "NUL", in: inputs("k", "val\x00ue"), wantErr: `(?i)control characters`},
		{name: "DEL", in: inputs("k", "a\x7fb"), wantErr: `(?i)control characters`},
		{name: "tab outside a token", in: inputs("k", "a\tb"), wantErr: `(?i)control characters`},
		{name: "C1 controls and U+2028 allowed", in: inputs("k", "a\u0085b\u2028c"), want: map[string]string{"k": "a\u0085b\u2028c"}},
		{name: "empty variable", vars: TemplateVars{"source.sha": "", "source.head_branch": "", "source.run_id": "", "source.run_url": "", "source.repo": "o/r", "source.workflow": "ci.yml"},
			in: inputs("k", "{{ source.sha }}"), wantErr: `(?i)"source\.sha" resolved to an empty string`},
		{name: "one bad input fails all", in: inputs("good", "{{ source.sha }}", "bad", "{{ source.nonexistent }}"), wantErr: `input "bad"`},
		{name: "empty literal allowed", in: inputs("k", ""), want: map[string]string{"k": ""}},
		{name: "triple braces keep the outer ones", in: inputs("k", "{{{ source.sha }}}"), want: map[string]string{"k": "{" + v["source.sha"] + "}"}},
		{name: "tab inside a token is whitespace", in: inputs("k", "{{\tsource.sha\t}}"), want: map[string]string{"k": v["source.sha"]}},
		{name: "NBSP inside a token is whitespace", in: inputs("k", "{{\u00a0source.repo\u3000}}"), want: map[string]string{"k": "org/repo"}},
		{name: "malformed tokens are literal", in: inputs("a", "{{ source-sha }}", "b", "{{ source.sha | upper }}", "c", "{ x }", "d", "{{}}", "e", "{{ source.sha }"),
			want: map[string]string{"a": "{{ source-sha }}", "b": "{{ source.sha | upper }}", "c": "{ x }", "d": "{{}}", "e": "{{ source.sha }"}},
		{name: "GitHub expression is an unknown variable", in: inputs("k", "${{ github.sha }}"), wantErr: `"github\.sha"`},
		{name: "variables are case-sensitive", in: inputs("k", "{{ SOURCE.SHA }}"), wantErr: `unknown template variable "SOURCE\.SHA"`},
		{name: "unknown checked before empty", vars: TemplateVars{"source.sha": "", "source.head_branch": "b", "source.run_id": "1", "source.run_url": "u", "source.repo": "o/r", "source.workflow": "w"},
			in: inputs("k", "{{ source.sha }}{{ bogus }}"), wantErr: `unknown template variable "bogus"`},
		{name: "length counted in UTF-16 units", in: inputs("k", strings.Repeat("😀", 513)), wantErr: `1026 characters long`},
		{name: "512 emoji fit", in: inputs("k", strings.Repeat("😀", 512)), want: map[string]string{"k": strings.Repeat("😀", 512)}},
		{name: "length checked after substitution", in: inputs("k", strings.Repeat("x", 1000)+"{{ source.sha }}"), wantErr: `maximum length`},
		{name: "control character arriving through a variable", vars: TemplateVars{"source.sha": "a\nb", "source.head_branch": "b", "source.run_id": "1", "source.run_url": "u", "source.repo": "o/r", "source.workflow": "w"},
			in: inputs("k", "{{ source.sha }}"), wantErr: `control characters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := tt.vars
			if vars == nil {
				vars = v
			}
			got, err := ResolveInputs(tt.in, vars)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, got %q", got)
				}
				if got != nil {
					t.Errorf("partial result %q with the error", got)
				}
				if !regexp.MustCompile(tt.wantErr).MatchString(err.Error()) {
					t.Errorf("error %q does not match %q", err, tt.wantErr)
				}
				var te *TemplateError
				if !errors.As(err, &te) {
					t.Errorf("error is %T, want *TemplateError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveInputsErrorPosition(t *testing.T) {
	in := []dispatching.Input{{Key: "k", Value: "{{ nope }}", Pos: dispatching.Pos{Line: 4, Column: 9}, ValuePos: dispatching.Pos{Line: 4, Column: 12}}}
	_, err := ResolveInputs(in, testVars())
	var te *TemplateError
	if !errors.As(err, &te) || te.Pos.Line != 4 || te.Pos.Column != 12 || te.Key != "k" || te.Variable != "nope" {
		t.Fatalf("got %#v", err)
	}
}

func TestVarsFromEvent(t *testing.T) {
	ev := event("Org", "Repo", ".github/workflows/ci.yml")
	v := VarsFromEvent(ev)
	if v["source.repo"] != "Org/Repo" || v["source.workflow"] != "ci.yml" || v["source.run_id"] != "987654321" || v["source.head_branch"] != "main" {
		t.Errorf("got %q", v)
	}
	ev.Run.HeadBranch = nil
	ev.Run.ID = 0
	v = VarsFromEvent(ev)
	if v["source.head_branch"] != "" || v["source.run_id"] != "" {
		t.Errorf("absent fields: got %q", v)
	}
	if len(TemplateVariableNames()) != 6 || len(v) != 6 {
		t.Errorf("want six variables, got %d / %d", len(TemplateVariableNames()), len(v))
	}
}
