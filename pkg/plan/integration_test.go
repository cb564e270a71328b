package plan

import (
	"context"
	"slices"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// With configs from the real parser, details carry the file's line numbers.
func TestBuildWithParsedConfigs(t *testing.T) {
	parse := func(file, src string) ConfigResult {
		cfg, diags := dispatching.Parse(file, []byte(src))
		if cfg == nil {
			t.Fatalf("%s: %v", file, diags)
		}
		return ConfigResult{Status: ConfigFound, Config: cfg, Path: file}
	}
	src := parse("acme/api/dispatching.yml", `outbound:
  - source:
      workflow: ci.yml
    targets:
      - repository: deploy
        workflow: cd.yml
        inputs:
          sha: "{{ source.sha }}"
      - repository: acme/web
        workflow: .github/workflows/cd.yml
`)
	lk := newLookup().
		withResult("acme/deploy", parse("acme/deploy/dispatching.yml", `inbound:
  - source:
      repository: other/thing
      workflow: ci.yml
    targets:
      - workflow: cd.yml
  - source:
      repository: api
      workflow: .github/workflows/ci.yml
    targets:
      - workflow: cd.yml
        accept_inputs: [sha]
`)).
		withResult("acme/web", parse("acme/web/dispatching.yml", "inbound: []\n"))
	p := Build(context.Background(), Input{Event: event("acme", "api", ".github/workflows/ci.yml"), Source: src, Targets: lk, Policy: DefaultPolicy()})
	if got := reasons(p); !slices.Equal(got, []string{ReasonAuthorized, ReasonInboundNotAuthorized}) {
		t.Fatalf("reasons = %q", got)
	}
	if want := "inbound rule 2 in acme/deploy/dispatching.yml:7 allows acme/api ci.yml to dispatch cd.yml with inputs sha"; p.Targets[0].Detail != want {
		t.Errorf("detail = %q, want %q", p.Targets[0].Detail, want)
	}
	if o := p.Targets[1].Outbound; o == nil || o.Line != 9 || o.Rule != 1 || o.Target != 2 {
		t.Errorf("outbound ref = %+v, want rule 1 target 2 at line 9", o)
	}
	if p.Targets[0].Inputs["sha"] != "abc123def456abc123def456abc123def456abc1" {
		t.Errorf("inputs = %q", p.Targets[0].Inputs)
	}
}
