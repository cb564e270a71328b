package lambda_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatcher-dev/dispatcher/lambda"
	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// BenchmarkIngressHandler measures the ingress function's handler in
// process (API Gateway event → signature → replay guard → SQS send →
// replay record → PutEvents → answer) against kumo for every service, and
// reports the p50 and p99 latency of one delivery.
//
//	go test -run '^$' -bench IngressHandler ./lambda/
func BenchmarkIngressHandler(b *testing.B) {
	ctx := context.Background()
	cfg := awstest.Config(kumoSrv.URL)
	c := awsinfra.ContractFor(fmt.Sprintf("b%d", time.Now().UnixNano()), 0)
	p, err := awsinfra.Provision(ctx, sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), c)
	if err != nil {
		b.Fatal(err)
	}
	n := c.Names()
	env := map[string]string{
		"GITHUB_WEBHOOK_SECRET": secret, "WEBHOOK_RATE_LIMIT": "0",
		"DISPATCH_REQUESTS_QUEUE_URL": p.QueueURLs[n.RequestsQueue], "DISPATCH_FACTS_EVENT_BUS_NAME": n.Bus,
		"DISPATCH_STATE_TABLE_NAME": n.StateTable,
	}
	st, err := settings.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.NewAWS(ctx, st, settings.ModeIngress, app.BuildInfo{}, slog.New(slog.NewTextHandler(io.Discard, nil)), app.AWSOptions{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	h := lambda.HTTP(a)
	body, err := os.ReadFile("../examples/webhook/workflow_run.json")
	if err != nil {
		b.Fatal(err)
	}
	ev := webhookEventFor(body)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		ev.Headers["x-github-delivery"] = fmt.Sprintf("bench-%d", i)
		start := time.Now()
		res, err := h(ctx, ev)
		lat = append(lat, time.Since(start))
		if err != nil || res.StatusCode != 202 {
			b.Fatalf("%d %s %v", res.StatusCode, res.Body, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
