package awsinfra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// Handler handles one queue message: nil acknowledges it, an error that
// satisfies pipeline.IsPermanent dead-letters it, any other error retries
// it (after pipeline.RetryAfterOf(err) when that is set).
type Handler func(ctx context.Context, m pipeline.Message) error

// BatchRunner runs a Handler over the SQS batch of one Lambda invocation
// and reports partial batch failures: Lambda deletes the messages not
// listed and leaves the listed ones on the queue, where they become
// visible again (the event source mapping must enable
// ReportBatchItemFailures).
type BatchRunner struct {
	// Handle is the stage's handler. Required.
	Handle Handler
	// SQS changes visibilities and moves permanent failures to DLQURL;
	// without it failed messages keep the queue's visibility timeout.
	SQS SQSAPI
	// QueueURL is the source queue (for ChangeMessageVisibility).
	QueueURL string
	// DLQURL is where a permanently failed message is sent at once (with
	// its last error as the last_error attribute). Without it, such a
	// message is reported failed and reaches the DLQ after MaxReceives.
	DLQURL string
	// MaxReceives is the redrive policy's maxReceiveCount (MaxReceiveCount
	// when 0); handlers see it as Delivery.MaxReceives.
	MaxReceives int
	// Concurrency bounds the messages handled at once (1 when 0).
	Concurrency int
	// RetryDelay is the delay before a failed message is received again
	// (DefaultRetryDelay when nil).
	RetryDelay func(m pipeline.Message, err error) time.Duration
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// DefaultRetryDelay is the error's pipeline.RetryAfterOf when set, else
// DefaultBackoff of the message's receive count.
func DefaultRetryDelay(m pipeline.Message, err error) time.Duration {
	if d := pipeline.RetryAfterOf(err); d > 0 {
		return d
	}
	return DefaultBackoff(m.ReceiveCount)
}

// DefaultBackoff is 10 s × 2^(receives-1), at most 15 minutes.
func DefaultBackoff(receiveCount int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < receiveCount && d < 15*time.Minute; i++ {
		d *= 2
	}
	return min(d, 15*time.Minute)
}

// maxVisibility is SQS's largest visibility timeout.
const maxVisibility = 12 * time.Hour

// Run handles every record of ev and returns the ids of the messages to
// retry. It never fails as a whole: a record that cannot be handled is
// listed.
func (r *BatchRunner) Run(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	conc := max(r.Concurrency, 1)
	maxRecv := r.MaxReceives
	if maxRecv <= 0 {
		maxRecv = MaxReceiveCount
	}
	failed := make([]bool, len(ev.Records))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, rec := range ev.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			failed[i] = !r.one(ctx, rec, maxRecv, log)
		}()
	}
	wg.Wait()
	var resp events.SQSEventResponse
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp
}

// one handles one record and reports whether it is done (to be deleted).
func (r *BatchRunner) one(ctx context.Context, rec events.SQSMessage, maxRecv int, log *slog.Logger) (done bool) {
	n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	m := pipeline.Message{ID: rec.MessageId, Handle: rec.ReceiptHandle, Body: []byte(rec.Body), ReceiveCount: max(n, 1), MaxReceives: maxRecv}
	log = log.With("message_id", rec.MessageId, "receive_count", m.ReceiveCount)
	if a, ok := rec.MessageAttributes[AttrDeliveryID]; ok && a.StringValue != nil {
		log = log.With("correlation_id", pipeline.LogSafe(*a.StringValue))
	}
	err := r.safeHandle(ctx, m)
	switch {
	case err == nil:
		return true
	case pipeline.IsPermanent(err):
		if r.DLQURL == "" || r.SQS == nil {
			log.Error("message failed permanently; it reaches the DLQ after its last receive", "error", err)
			return false
		}
		if derr := r.deadLetter(ctx, rec, err); derr != nil {
			log.Error("message failed permanently and could not be moved to the DLQ; retrying", "error", err, "dlq_error", derr)
			return false
		}
		log.Error("message failed permanently; moved to the DLQ", "error", err, "dlq", queueName(r.DLQURL))
		return true
	}
	retryDelay := r.RetryDelay
	if retryDelay == nil {
		retryDelay = DefaultRetryDelay
	}
	delay := min(max(retryDelay(m, err), 0), maxVisibility-time.Second)
	log.Warn("message failed; it will be received again", "error", err, "retry_in", delay.String())
	if r.SQS != nil && r.QueueURL != "" && rec.ReceiptHandle != "" {
		if _, cerr := r.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(r.QueueURL), ReceiptHandle: aws.String(rec.ReceiptHandle),
			VisibilityTimeout: int32((delay + time.Second - 1) / time.Second),
		}); cerr != nil {
			log.Warn("change visibility failed; the queue's visibility timeout applies", "error", cerr)
		}
	}
	return false
}

// safeHandle turns a handler panic into an error, so one bad message does
// not fail the whole batch.
func (r *BatchRunner) safeHandle(ctx context.Context, m pipeline.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return r.Handle(ctx, m)
}

// deadLetter sends rec to the DLQ with its attributes and the last error.
func (r *BatchRunner) deadLetter(ctx context.Context, rec events.SQSMessage, cause error) error {
	attrs := map[string]sqstypes.MessageAttributeValue{}
	for k, v := range rec.MessageAttributes {
		if v.StringValue != nil && (v.DataType == "String" || v.DataType == "Number") {
			attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String(v.DataType), StringValue: v.StringValue}
		}
	}
	msg := cause.Error()
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	attrs[AttrLastError] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(msg)}
	_, err := r.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(r.DLQURL), MessageBody: aws.String(rec.Body), MessageAttributes: attrs})
	if err != nil {
		return fmt.Errorf("send to %s: %w", queueName(r.DLQURL), err)
	}
	return nil
}

// errNoHandler is returned by NewBatchRunner without a handler.
var errNoHandler = errors.New("batch runner: a handler is required")

// Check reports a BatchRunner that cannot run.
func (r *BatchRunner) Check() error {
	if r.Handle == nil {
		return errNoHandler
	}
	return nil
}
