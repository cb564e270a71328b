package plan

import (
	"context"
	"fmt"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// benchInput is a source with n targets spread over n/5 repositories, each
// sending two templated inputs that the targets accept.
func benchInput(n int) Input {
	var targets []dispatching.OutboundTarget
	lk := newLookup()
	inbound := &dispatching.Config{Inbound: []dispatching.InboundRule{
		in("acme/other", "ci.yml", accept("x.yml", nil)),
		in("acme/api", "ci.yml", accept("w0.yml", []string{"sha", "run"}), accept("w1.yml", []string{"sha", "run"}),
			accept("w2.yml", []string{"sha", "run"}), accept("w3.yml", []string{"sha", "run"}), accept("w4.yml", []string{"sha", "run"})),
	}}
	for i := range n {
		repo := fmt.Sprintf("acme/r%d", i/5)
		targets = append(targets, tgt(repo, fmt.Sprintf(".github/workflows/w%d.yml", i%5),
			"sha", "{{ source.sha }}", "run", "{{ source.repo }}#{{ source.run_id }}"))
		lk.with(repo, inbound)
	}
	pol := DefaultPolicy()
	pol.MaxTargetsPerRun = n
	return Input{
		Event:   event("acme", "api", ".github/workflows/ci.yml"),
		Source:  found("acme/api", &dispatching.Config{Outbound: []dispatching.OutboundRule{out("lint.yml", tgt("x", "y.yml")), out("ci.yml", targets...)}}),
		Targets: lk,
		Policy:  pol,
		Chain:   []ChainLink{{Repository: "acme/root", Workflow: "ci.yml"}, {Repository: "acme/api", Workflow: "ci.yml"}},
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1, 25, 250} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			in := benchInput(n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p := Build(ctx, in)
				if len(p.Dispatches()) != n {
					b.Fatalf("%d dispatches, want %d", len(p.Dispatches()), n)
				}
			}
		})
	}
}

func BenchmarkBuildSourceDenied(b *testing.B) {
	in := benchInput(25)
	in.Event.Run.HeadRepositoryFullName = "fork/api"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if p := Build(ctx, in); p.Eligible {
			b.Fatal("eligible")
		}
	}
}

func BenchmarkParseEvent(b *testing.B) {
	payload := []byte(fullPayload)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := ParseEvent(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveInputs(b *testing.B) {
	vars := testVars()
	ins := inputs("sha", "{{ source.sha }}", "url", "run {{ source.run_url }} of {{source.repo}}", "env", "production")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ResolveInputs(ins, vars); err != nil {
			b.Fatal(err)
		}
	}
}
