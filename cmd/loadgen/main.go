// Command loadgen measures dispatcher serve end to end on one machine: it
// starts a fake GitHub (pkg/ghapp/ghfake behind a proxy that adds latency
// and times every request), starts `dispatcher serve` on a fresh database
// as a child process (the same code as the released binary, with the
// settings a user gets by default), sends signed, real-shaped workflow_run
// deliveries closed-loop or paced, waits for every expected dispatch, and
// prints deliveries/s, acknowledgement and webhook → last dispatch
// latencies, GitHub requests per dispatched target, the child's peak RSS,
// and duplicate and lost dispatches (both must be 0).
//
// With --service null the child is a null service instead: it checks the
// signature, answers 202 and makes the one dispatch call, keeping nothing.
// Its throughput is the ceiling this load generator and fake reach on the
// machine, the yardstick for serve's figure.
//
// loadgen is a development tool; it is not shipped in release archives.
//
//	go run ./cmd/loadgen                          # 2,000 deliveries, 1 target, 16 senders
//	go run ./cmd/loadgen --service null           # the ceiling
//	go run ./cmd/loadgen --rate 1000 --deliveries 5000
//	go run ./cmd/loadgen --targets 5 --github-latency 50ms --deliveries 300 --concurrency 4
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(runChild(ctx, os.Args[2:]))
	}
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
	}
	os.Exit(code)
}
