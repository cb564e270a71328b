package main

import (
	"bytes"
	"regexp"
	"testing"
)

// The README's first command: the demo runs the real serve against the
// fake GitHub and reports exactly the example world's decisions.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`→ 202 \{"accepted":true\}`,
		`(?m)^  acme/deploy +cd.yml +ref=main +environment=staging sha=`,
		`(?m)^  acme/docs +publish.yml +ref=trunk`,
		`dispatch.target.denied  acme/web cd.yml  \(inputs_not_accepted\)`,
		`dispatch.target.denied  acme/infra plan.yml  \(inbound_not_authorized\)`,
		`dispatch.target.denied  acme/legacy sync.yml  \(invalid_target_config\)`,
		`dispatch.target.denied  acme/billing cd.yml  \(missing_target_config\)`,
		`dispatch.target.denied  acme/api ci.yml  \(self_dispatch_blocked\)`,
		`dispatch.trigger.succeeded  acme/deploy cd.yml  https://`,
		`dispatch.trigger.succeeded  acme/docs publish.yml  https://`,
		`Result issue opened in acme/api: Dispatch results: ci.yml \(success=2, failed=0, denied=5\)`,
		`serve stopped cleanly`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if n := len(regexp.MustCompile(`(?m)^  acme/\S+ +\S+ +ref=`).FindAllString(out.String(), -1)); n != 2 {
		t.Errorf("%d dispatches printed, want exactly 2:\n%s", n, out.String())
	}
}
