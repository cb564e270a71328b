package dispatching

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse checks that Parse never panics, that it returns a config
// exactly when it reports no error, and that a config it returns, written
// back out (as JSON, which is YAML), parses to the same config.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"", "{}", "outbound: []\n", "- a\n", "a: &a [*a, *a]\n", "outbound: []\n---\n",
		validHead + "      - repository: a/b\n        workflow: w\n        inputs: {sha: '{{ source.sha }}', 1: yes}\n",
		"inbound:\n  - source: {repository: a, workflow: b}\n    targets: [{workflow: w, accept_inputs: [x, x]}]\n",
		"outbound:\n  - <<: {a: 1}\n", "x: !!binary abc\n", "a: 1\na: 2\n", "\t- a\n", "version: 1\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	examples, _ := filepath.Glob("../../examples/*.yml")
	for _, p := range examples {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := Parse("f.yml", data)
		if (cfg != nil) == HasErrors(ds) {
			t.Fatalf("config %v with diagnostics %v", cfg != nil, ds)
		}
		for _, d := range ds {
			if d.Line < 1 || d.Column < 1 || d.Rule == "" || d.Message == "" || d.File != "f.yml" {
				t.Fatalf("malformed diagnostic %+v", d)
			}
		}
		if cfg == nil {
			return
		}
		_ = Lint("f.yml", cfg, LintOptions{Repo: "o/r"})
		again := encodeConfig(cfg)
		cfg2, ds2 := Parse("again.yml", []byte(again))
		if cfg2 == nil {
			t.Fatalf("re-encoded config rejected:\n%s\n%s", again, dumpDiags(ds2))
		}
		if diff := cmp.Diff(cfg, cfg2, cmpopts.IgnoreTypes(Pos{}), cmpopts.IgnoreFields(InboundTarget{}, "AcceptInputsPos")); diff != "" {
			t.Fatalf("round trip changed the config (-first +second):\n%s", diff)
		}
	})
}

// encodeConfig writes cfg as JSON (a subset of YAML), keeping input order.
func encodeConfig(cfg *Config) string {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var b strings.Builder
	b.WriteString("{")
	if cfg.Version != 0 {
		b.WriteString(`"version": 1, `)
	}
	b.WriteString(`"outbound": [`)
	for i, r := range cfg.Outbound {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"source": {"workflow": ` + q(r.Source.Workflow) + `}, "targets": [`)
		for j, t := range r.Targets {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`{"repository": ` + q(t.Repository) + `, "workflow": ` + q(t.Workflow))
			if t.Ref != "" {
				b.WriteString(`, "ref": ` + q(t.Ref))
			}
			if t.Inputs != nil {
				b.WriteString(`, "inputs": {`)
				for k, in := range t.Inputs {
					if k > 0 {
						b.WriteString(", ")
					}
					b.WriteString(q(in.Key) + ": " + q(in.Value))
				}
				b.WriteString("}")
			}
			b.WriteString("}")
		}
		b.WriteString("]}")
	}
	b.WriteString(`], "inbound": [`)
	for i, r := range cfg.Inbound {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"source": {"repository": ` + q(r.Source.Repository) + `, "workflow": ` + q(r.Source.Workflow) + `}, "targets": [`)
		for j, t := range r.Targets {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`{"workflow": ` + q(t.Workflow))
			if t.AcceptInputs != nil {
				b.WriteString(`, "accept_inputs": [`)
				for k, a := range t.AcceptInputs {
					if k > 0 {
						b.WriteString(", ")
					}
					b.WriteString(q(a))
				}
				b.WriteString("]")
			}
			b.WriteString("}")
		}
		b.WriteString("]}")
	}
	b.WriteString("]}\n")
	return b.String()
}
