package awsinfra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the part of the SQS client the adapters use.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Message attribute names set on every message the adapters send.
const (
	AttrDeliveryID = "delivery_id" // the webhook delivery id
	AttrTarget     = "target"      // "owner/repo/workflow" of a work item
	AttrDedupID    = "dedup_id"    // the pipeline's deterministic message id
	AttrLastError  = "last_error"  // on a message moved to a DLQ by the runner
)

// MaxBatchEntries is the most entries SendMessageBatch (and PutEvents)
// take in one call.
const MaxBatchEntries = 10

// maxBatchBytes bounds the bodies of one SendMessageBatch call (SQS
// limits the whole request; 256 KiB is the limit that has held longest).
const maxBatchBytes = 256 << 10

// sendAttempts is how many times a batch entry that SQS reported failed
// is sent again before Send gives up.
const sendAttempts = 3

// Queue is an SQS standard queue. It implements pipeline.Enqueuer.
type Queue struct {
	client SQSAPI
	url    string
}

// NewQueue returns the queue at url.
func NewQueue(client SQSAPI, url string) *Queue { return &Queue{client: client, url: url} }

// URL returns the queue URL.
func (q *Queue) URL() string { return q.url }

// OutMessage is one message to send.
type OutMessage struct {
	DedupID string
	Body    []byte
}

// Enqueue sends one message, with the delivery id and (for a work item)
// the target as message attributes. It implements pipeline.Enqueuer.
func (q *Queue) Enqueue(ctx context.Context, dedupID string, body []byte) error {
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(q.url),
		MessageBody:       aws.String(string(body)),
		MessageAttributes: attributes(dedupID, body),
	})
	if err != nil {
		return fmt.Errorf("sqs send to %s: %w", queueName(q.url), err)
	}
	return nil
}

// EnqueueBatch sends msgs with SendMessageBatch, at most MaxBatchEntries
// (and 256 KiB) per call. Entries SQS reports failed are sent again, only
// those, up to three times; the error then names the ones still failing.
// A message may therefore be sent twice (its batch call timed out after
// SQS stored it): consumers are idempotent.
func (q *Queue) EnqueueBatch(ctx context.Context, msgs []OutMessage) error {
	for start := 0; start < len(msgs); {
		end, size := start, 0
		for end < len(msgs) && end-start < MaxBatchEntries && (end == start || size+len(msgs[end].Body) <= maxBatchBytes) {
			size += len(msgs[end].Body)
			end++
		}
		if err := q.sendChunk(ctx, msgs[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (q *Queue) sendChunk(ctx context.Context, msgs []OutMessage) error {
	pending := make(map[string]OutMessage, len(msgs))
	for i, m := range msgs {
		pending[strconv.Itoa(i)] = m
	}
	var lastFailures []string
	for attempt := 0; attempt < sendAttempts && len(pending) > 0; attempt++ {
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url)}
		for i := range msgs { // stable order
			id := strconv.Itoa(i)
			if m, ok := pending[id]; ok {
				in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{
					Id: aws.String(id), MessageBody: aws.String(string(m.Body)), MessageAttributes: attributes(m.DedupID, m.Body),
				})
			}
		}
		out, err := q.client.SendMessageBatch(ctx, in)
		if err != nil {
			return fmt.Errorf("sqs send batch to %s: %w", queueName(q.url), err)
		}
		for _, ok := range out.Successful {
			delete(pending, aws.ToString(ok.Id))
		}
		lastFailures = lastFailures[:0]
		for _, f := range out.Failed {
			lastFailures = append(lastFailures, fmt.Sprintf("%s: %s %s", pending[aws.ToString(f.Id)].DedupID, aws.ToString(f.Code), aws.ToString(f.Message)))
			if f.SenderFault { // retrying the same entry cannot succeed
				return fmt.Errorf("sqs send batch to %s: %w", queueName(q.url), errors.New(strings.Join(lastFailures, "; ")))
			}
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("sqs send batch to %s: %d of %d entries failed: %s", queueName(q.url), len(pending), len(msgs), strings.Join(lastFailures, "; "))
	}
	return nil
}

// attributes are the message attributes of a message: the dedup id, and
// the delivery id and target read from the body (a pipeline.Request or
// pipeline.WorkItem) when it has them.
func attributes(dedupID string, body []byte) map[string]sqstypes.MessageAttributeValue {
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	out := map[string]sqstypes.MessageAttributeValue{}
	if dedupID != "" {
		out[AttrDedupID] = str(dedupID)
	}
	var peek struct {
		DeliveryID string `json:"delivery_id"`
		Target     *struct {
			Repository string `json:"repository"`
			Workflow   string `json:"workflow"`
		} `json:"target"`
	}
	if json.Unmarshal(body, &peek) == nil {
		if peek.DeliveryID != "" {
			out[AttrDeliveryID] = str(peek.DeliveryID)
		}
		if peek.Target != nil && peek.Target.Repository != "" {
			out[AttrTarget] = str(peek.Target.Repository + "/" + peek.Target.Workflow)
		}
	}
	return out
}

// queueName is the last path element of a queue URL (for messages).
func queueName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}
