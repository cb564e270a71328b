// Command aws runs dispatcher's AWS runtime end to end on this machine,
// with no AWS account and no GitHub App: the five Lambda functions
// (ingress, planner, dispatcher, facts, admin) are the real dispatcher
// binary built as "bootstrap", each served by a fake Lambda Runtime API;
// SQS, EventBridge and Secrets Manager are kumo (in-process, on
// 127.0.0.1:4566, where its EventBridge rules deliver to SQS), DynamoDB is
// DynamoDB Local when `make test` installed it (else kumo's); GitHub is the
// fake of pkg/ghapp/ghfake holding the repositories of examples/world.
//
//	go run ./examples/aws
//
// It creates the queues, DLQs, bus, rule and tables of the contract
// (pkg/awsinfra.Contract, the same the Terraform module declares), sends
// the signed sample webhook of examples/webhook to the ingress function as
// API Gateway would, lets event source mappings (a poller per queue, as
// Lambda's) feed the planner, dispatcher and facts functions, then prints
// the dispatches GitHub received, the facts in DynamoDB and the counts the
// admin side reads.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// kumo's EventBridge logs every delivery on the process's standard
	// output; keep the example's own output readable.
	if err := run(ctx, quietStdout()); err != nil {
		fmt.Fprintln(os.Stderr, "aws example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error { return runNamed(ctx, out, awsinfra.DefaultName) }

// runNamed is run with the resources named name.
func runNamed(ctx context.Context, out io.Writer, name string) error {
	w, err := newWorld(ctx, out, name, false)
	if err != nil {
		return err
	}
	defer w.Close()
	tmp, err := os.MkdirTemp("", "dispatcher-aws-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintln(out, "building the Lambda bootstrap (go build -tags lambda.norpc ./cmd/dispatcher)…")
	bin, err := buildBootstrap(ctx, w.root, tmp)
	if err != nil {
		return err
	}

	fns := map[string]*awstest.Function{}
	defer func() {
		for _, f := range fns {
			f.Close()
		}
	}()
	for _, stage := range []string{"ingress", "planner", "dispatcher", "facts", "admin"} {
		f, err := awstest.StartFunction(bin, append(w.env(), "DISPATCHER_STAGE="+stage))
		if err != nil {
			return err
		}
		fns[stage] = f
	}
	fmt.Fprintf(out, "functions dispatcher-{ingress,planner,dispatcher,facts,admin} started (%s)\n\n", bin)

	// The event source mappings: requests → planner, targets →
	// dispatcher, facts (filled by the EventBridge rule) → facts.
	pollCtx, stopPolling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	n := w.contract.Names()
	for queue, stage := range map[string]string{n.RequestsQueue: "planner", n.TargetsQueue: "dispatcher", n.FactsQueue: "facts"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				awstest.PollOnce(pollCtx, w.sqs, w.res.QueueURLs[queue], w.res.QueueARNs[queue], 1, awstest.InvokeFunction(fns[stage]))
			}
		}()
	}
	defer func() { stopPolling(); wg.Wait() }()

	body, err := os.ReadFile(filepath.Join(w.root, "examples", "webhook", "workflow_run.json"))
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "API Gateway → dispatcher-ingress: POST /webhooks/github (workflow_run: acme/api ci.yml completed on main)")
	res, err := fns["ingress"].Invoke(ctx, webhookEvent(body))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  → %s\n\n", answer(res))

	// Wait until every fact of the delivery is folded (facts arrive in
	// any order): the plan's candidates are all queued or denied, every
	// queued target has an outcome, and the result issue is written.
	proj := w.projections()
	fun, err := settle(ctx, proj, func() bool { return len(w.gh.Issues()) > 0 })
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "GitHub received these workflow_dispatch calls:")
	ds := w.gh.Dispatches()
	sort.Slice(ds, func(i, j int) bool { return ds[i].Repository < ds[j].Repository })
	for _, d := range ds {
		fmt.Fprintf(out, "  %-12s %-12s ref=%-6s %s\n", d.Repository, d.Workflow, d.Ref, inputs(d.Inputs))
	}
	fmt.Fprintln(out)
	journey, err := proj.Journey(ctx, delivery)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Facts of delivery %s (EventBridge → facts queue → facts function → DynamoDB %s):\n", delivery, n.EventsTable)
	for _, e := range journey {
		line := "  " + e.Type
		if e.Data.TargetRepo != "" {
			line += "  " + e.Data.TargetRepo + " " + e.Data.TargetWorkflow
		}
		if e.Data.Reason != "" {
			line += "  (" + e.Data.Reason + ")"
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out)
	for _, is := range w.gh.Issues() {
		fmt.Fprintf(out, "Result issue opened in %s: %s\n", is.Repository, is.Title)
	}

	sum, err := proj.Summary(ctx)
	if err != nil {
		return err
	}
	health, err := fns["admin"].Invoke(ctx, getEvent("/health"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndispatcher-admin: GET /health → %s\n", answer(health))
	fmt.Fprintf(out, "Counts in %s: %d facts: %d accepted, %d planned, %d queued, %d denied, %d succeeded, %d failed; delivery status %s\n",
		n.ProjectionsTable, sum.Total, sum.RequestAccepted, sum.PlanCreated, sum.TargetQueued, sum.TargetDenied,
		sum.TriggerSucceeded, sum.TriggerFailed, fun.Status)
	fmt.Fprintln(out, "\nNext: docs/aws-runtime.md, then terraform/ to deploy it.")
	return nil
}

// settle waits until the delivery's facts are all folded and done()
// holds, and returns its funnel.
func settle(ctx context.Context, proj *awsinfra.Projections, done func() bool) (facts.Funnel, error) {
	for {
		fun, ok, err := proj.Delivery(ctx, delivery)
		if err != nil {
			return fun, err
		}
		if ok && fun.Accepted > 0 && fun.Planned > 0 && fun.Succeeded+fun.Failed == fun.Queued && done() {
			journey, err := proj.Journey(ctx, delivery)
			if err != nil {
				return fun, err
			}
			for _, e := range journey {
				if e.Type == facts.TypePlanCreated && e.Data.Candidates != nil && int64(*e.Data.Candidates) == fun.Queued+fun.Denied {
					return fun, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fun, fmt.Errorf("the pipeline did not settle: %+v", fun)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// webhookEvent is the API Gateway HTTP API (payload 2.0) event of GitHub's
// delivery of body.
func webhookEvent(body []byte) events.APIGatewayV2HTTPRequest {
	ev := getEvent("/webhooks/github")
	ev.RequestContext.HTTP.Method = "POST"
	ev.RouteKey = "POST /webhooks/github"
	ev.Headers["content-type"] = "application/json"
	ev.Headers["user-agent"] = "GitHub-Hookshot/8e03811"
	ev.Headers["x-github-event"] = "workflow_run"
	ev.Headers["x-github-delivery"] = delivery
	ev.Headers["x-hub-signature-256"] = pipeline.Sign([]byte(secret), body)
	ev.Body = string(body)
	return ev
}

func getEvent(path string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET " + path, RawPath: path,
		Headers: map[string]string{"host": "example.execute-api.us-east-1.amazonaws.com", "x-forwarded-for": "140.82.115.42", "x-forwarded-proto": "https"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "000000000000", APIID: "example", Stage: "$default", RequestID: "example-request",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path, Protocol: "HTTP/1.1", SourceIP: "140.82.115.42"},
		},
	}
}

// answer shows an HTTP function's answer as "status body".
func answer(res awstest.Result) string {
	var r events.APIGatewayV2HTTPResponse
	if res.Error || json.Unmarshal(res.Payload, &r) != nil {
		return "function error: " + string(res.Payload)
	}
	return fmt.Sprintf("%d %s", r.StatusCode, strings.TrimSpace(r.Body))
}

func inputs(in map[string]string) string {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := in[k]
		if len(v) > 12 {
			v = v[:12] + "…"
		}
		fmt.Fprintf(&b, "%s=%s ", k, v)
	}
	return strings.TrimSpace(b.String())
}
