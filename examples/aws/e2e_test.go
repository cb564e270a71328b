package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatcher-dev/dispatcher/lambda"
	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

const lease = time.Minute

// syncBuffer is a log sink shared by the stages.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// twice is an at-least-once queue: every message is sent two times, as
// SQS may deliver a standard queue's message more than once.
type twice struct{ pipeline.Enqueuer }

func (q twice) Enqueue(ctx context.Context, id string, body []byte) error {
	if err := q.Enqueuer.Enqueue(ctx, id, body); err != nil {
		return err
	}
	return q.Enqueuer.Enqueue(ctx, id, body)
}

// crashAfterPost makes the first completion of a claim whose key contains
// match fail after the dispatch POST reached GitHub, as if the function
// died between the two effects; the clock then jumps past the lease, as
// it would before the message is received again.
type crashAfterPost struct {
	pipeline.Claims
	match   string
	clock   *pipelinetest.Clock
	crashed atomic.Int32
}

func (c *crashAfterPost) Complete(ctx context.Context, key string, r pipeline.DispatchResult) error {
	if strings.Contains(key, c.match) && c.crashed.CompareAndSwap(0, 1) {
		c.clock.Advance(lease + time.Second)
		return errors.New("crash: the function died after the POST, before the completion")
	}
	return c.Claims.Complete(ctx, key, r)
}

// crashBeforePost makes the first dispatch to a repository fail before
// the POST leaves (the claim is taken), then moves the clock past the
// lease.
type crashBeforePost struct {
	pipeline.GitHub
	repo    string
	clock   *pipelinetest.Clock
	crashed atomic.Int32
}

func (g *crashBeforePost) Dispatch(ctx context.Context, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
	if req.Repository == g.repo && g.crashed.CompareAndSwap(0, 1) {
		g.clock.Advance(lease + time.Second)
		panic("crash: the function died after the claim, before the POST")
	}
	return g.GitHub.Dispatch(ctx, req)
}

// TestEndToEndExactlyOnce runs the AWS runtime on the emulators (kumo on
// 127.0.0.1:4566, DynamoDB Local) with the stages in-process behind the
// Lambda shim's own handlers: signed webhook → ingress → SQS → planner →
// SQS → dispatcher → fake GitHub, and facts → EventBridge → facts queue →
// facts → DynamoDB. Every request and work item is delivered twice, one
// dispatch crashes after its POST and another before it: still exactly one
// workflow_dispatch per authorised target, and every fact counts once.
func TestEndToEndExactlyOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := newWorld(ctx, io.Discard, fmt.Sprintf("e2e%d", time.Now().UnixNano()), true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, kv := range w.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := awsinfra.LoadConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := settings.Load(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	clock := pipelinetest.NewClock(time.Now().Add(-time.Second))
	afterPost := &crashAfterPost{match: "acme/deploy", clock: clock}
	beforePost := &crashBeforePost{repo: "acme/docs", clock: clock}
	var logBuf syncBuffer
	logs := slog.New(slog.NewTextHandler(&logBuf, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logBuf.String())
		}
	})
	stage := func(name string) *app.AWS {
		a, err := app.NewAWS(ctx, st, name, app.BuildInfo{Version: "e2e"}, logs, app.AWSOptions{
			Config: cfg, Now: clock.Now, ClaimLease: lease, Concurrency: 1,
			RetryDelay: func(pipeline.Message, error) time.Duration { return 0 },
			WrapPorts: func(p *app.Ports) {
				p.Requests, p.Targets = twice{p.Requests}, twice{p.Targets}
				if name == settings.ModeDispatcher {
					afterPost.Claims, beforePost.GitHub = p.Claims, p.GitHub
					p.Claims, p.GitHub = afterPost, beforePost
				}
			},
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(a.Close)
		return a
	}
	ingress := lambda.HTTP(stage(settings.ModeIngress))
	n := w.contract.Names()
	pollCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for queue, name := range map[string]string{n.RequestsQueue: settings.ModePlanner, n.TargetsQueue: settings.ModeDispatcher, n.FactsQueue: settings.ModeFacts} {
		handler := lambda.SQS(stage(name))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				if _, err := awstest.PollOnce(pollCtx, w.sqs, w.res.QueueURLs[queue], w.res.QueueARNs[queue], 1,
					func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
						return handler(ctx, ev)
					}); err != nil && pollCtx.Err() == nil {
					t.Errorf("poll %s: %v", queue, err)
					return
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	body, err := os.ReadFile(filepath.Join(w.root, "examples", "webhook", "workflow_run.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{202, 409} { // GitHub redelivers: the replay guard answers 409
		res, err := ingress(ctx, webhookEvent(body))
		if err != nil || res.StatusCode != want {
			t.Fatalf("webhook %d: %d %s, %v; want %d", i+1, res.StatusCode, res.Body, err, want)
		}
	}

	proj := w.projections()
	fun, err := settle(ctx, proj, func() bool { return len(w.gh.Issues()) > 0 && len(w.gh.Dispatches()) >= 2 })
	if err != nil {
		t.Fatal(err)
	}
	if afterPost.crashed.Load() != 1 || beforePost.crashed.Load() != 1 {
		t.Fatalf("crashes injected: after POST %d, before POST %d; want 1 each", afterPost.crashed.Load(), beforePost.crashed.Load())
	}
	count := map[string]int{}
	for _, d := range w.gh.Dispatches() {
		count[d.Repository+" "+d.Workflow]++
	}
	if fmt.Sprint(count) != "map[acme/deploy cd.yml:1 acme/docs publish.yml:1]" {
		t.Fatalf("dispatches %v, want one to each authorised target", count)
	}
	sum, err := proj.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RequestAccepted != 1 || sum.PlanCreated != 1 || sum.TargetQueued != 2 || sum.TargetDenied != 5 ||
		sum.TriggerSucceeded != 2 || sum.TriggerFailed != 0 || sum.Total != 11 || fun.Status != "success" {
		t.Fatalf("counts %+v, delivery %s; want 11 facts each counted once", sum.Counts, fun.Status)
	}
	if len(w.gh.Issues()) != 1 {
		t.Fatalf("%d result issues, want 1", len(w.gh.Issues()))
	}
	for _, q := range w.contract.Queues {
		out, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(w.res.QueueURLs[q.DLQ]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
		})
		if err != nil {
			t.Fatal(err)
		}
		if d := out.Attributes["ApproximateNumberOfMessages"]; d != "0" {
			t.Errorf("%s holds %s messages, want 0", q.DLQ, d)
		}
	}
}
