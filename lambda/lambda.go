// Package lambda is the thin shim between AWS Lambda (aws-lambda-go) and
// a stage of the AWS runtime built by app.NewAWS. It holds no business
// logic: API Gateway HTTP API (payload 2.0) events of the ingress and admin
// functions go through aws-lambda-go-api-proxy to the shared http.Handler;
// SQS batches of the planner, dispatcher and facts functions go to the
// stage's awsinfra.BatchRunner, whose answer lists the failed messages
// (events.SQSEventResponse; the event source mapping must enable
// ReportBatchItemFailures).
package lambda

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"
	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
)

// HTTPHandler is the handler of the ingress and admin functions.
type HTTPHandler func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// SQSHandler is the handler of the planner, dispatcher and facts
// functions.
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Handler returns the Lambda handler of a: an HTTPHandler for ingress and
// admin, an SQSHandler for the queue stages.
func Handler(a *app.AWS) (any, error) {
	switch {
	case a.HTTP != nil:
		return HTTP(a), nil
	case a.Batch != nil:
		return SQS(a), nil
	}
	return nil, errors.New("lambda: the stage has neither an HTTP handler nor a batch runner")
}

// HTTP adapts API Gateway HTTP API events to a.HTTP.
func HTTP(a *app.AWS) HTTPHandler {
	adapter := httpadapter.NewV2(a.HTTP)
	return adapter.ProxyWithContext
}

// SQS runs a.Batch over each batch; it never fails the whole invocation
// (a failed message is listed in the response instead).
func SQS(a *app.AWS) SQSHandler {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return a.Batch.Run(ctx, ev), nil
	}
}

// Start serves the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) with the
// handler of a until the process ends; ctx is the parent of every
// invocation's context.
func Start(ctx context.Context, a *app.AWS) error {
	h, err := Handler(a)
	if err != nil {
		return err
	}
	awslambda.StartWithOptions(h, awslambda.WithContext(ctx))
	return nil
}
