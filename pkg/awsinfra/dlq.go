package awsinfra

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DLQAPI is the part of the SQS client DLQ uses.
type DLQAPI interface {
	SQSAPI
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// DLQ is a dead-letter queue and the source queue its messages are
// redriven to (replay-dlq on SQS).
type DLQ struct {
	client DLQAPI
	url    string
	source string
}

// NewDLQ returns the dead-letter queue at url, redriving to source.
func NewDLQ(client DLQAPI, url, source string) *DLQ {
	return &DLQ{client: client, url: url, source: source}
}

// DeadLetter is one message of a DLQ.
type DeadLetter struct {
	MessageID    string `json:"message_id"`
	DeliveryID   string `json:"delivery_id,omitempty"`
	Target       string `json:"target,omitempty"`
	LastError    string `json:"last_error,omitempty"`
	ReceiveCount int    `json:"receive_count"`
	Body         string `json:"body"`

	handle string
	attrs  map[string]sqstypes.MessageAttributeValue
}

// Depth returns the approximate number of messages in the DLQ (visible
// and in flight).
func (d *DLQ) Depth(ctx context.Context) (int, error) {
	out, err := d.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(d.url), AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		return 0, fmt.Errorf("depth of %s: %w", queueName(d.url), err)
	}
	v, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	h, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return v + h, nil
}

// receive takes up to max messages, hidden for visibility seconds (at
// least 1: the SDK leaves a 0 out of the request, which then means the
// queue's default).
func (d *DLQ) receive(ctx context.Context, max, visibility int32) ([]DeadLetter, error) {
	out, err := d.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(d.url), MaxNumberOfMessages: min(max, 10), VisibilityTimeout: visibility,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", queueName(d.url), err)
	}
	var dl []DeadLetter
	for _, m := range out.Messages {
		attr := func(n string) string { return aws.ToString(m.MessageAttributes[n].StringValue) }
		n, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		dl = append(dl, DeadLetter{
			MessageID: aws.ToString(m.MessageId), DeliveryID: attr(AttrDeliveryID), Target: attr(AttrTarget),
			LastError: attr(AttrLastError), ReceiveCount: n, Body: aws.ToString(m.Body),
			handle: aws.ToString(m.ReceiptHandle), attrs: m.MessageAttributes,
		})
	}
	return dl, nil
}

// Peek returns up to max messages without consuming them: each is
// received, then made visible again at once (ChangeMessageVisibility 0),
// so it stays in the DLQ (its receive count grows, which a DLQ does not act
// on). SQS returns a sample: a peek may miss messages of a large queue.
func (d *DLQ) Peek(ctx context.Context, max int) ([]DeadLetter, error) {
	var out []DeadLetter
	seen := map[string]bool{}
	for attempts := 0; len(out) < max && attempts < 3; attempts++ {
		batch, err := d.receive(ctx, int32(min(max-len(out), 10)), 1)
		if err != nil {
			return out, err
		}
		for _, m := range batch {
			if _, err := d.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(d.url), ReceiptHandle: aws.String(m.handle), VisibilityTimeout: 0,
			}); err != nil {
				return out, fmt.Errorf("release %s in %s: %w", m.MessageID, queueName(d.url), err)
			}
		}
		fresh := 0
		for _, m := range batch {
			if !seen[m.MessageID] {
				seen[m.MessageID] = true
				out = append(out, m)
				fresh++
			}
		}
		if fresh == 0 {
			break
		}
	}
	return out, nil
}

// RedriveResult counts what Redrive did.
type RedriveResult struct {
	Moved   int `json:"moved"`
	Skipped int `json:"skipped"` // received but not matching the filter (left in the DLQ)
}

// Redrive moves up to limit messages (0: all) that match keep (nil: all)
// back to the source queue: each is received, sent to the source with its
// attributes (without last_error), and only then deleted from the DLQ, so
// a failure in between leaves a copy in both (consumers are idempotent),
// never none. Messages that do not match are left hidden for visibility
// seconds so that the scan moves on. progress, when set, is called after
// each message moved.
func (d *DLQ) Redrive(ctx context.Context, keep func(DeadLetter) bool, limit int, visibility int32, progress func(RedriveResult)) (RedriveResult, error) {
	var res RedriveResult
	if visibility <= 0 {
		visibility = 30
	}
	for limit <= 0 || res.Moved < limit {
		batch, err := d.receive(ctx, 10, visibility)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			return res, nil
		}
		for _, m := range batch {
			if (limit > 0 && res.Moved >= limit) || (keep != nil && !keep(m)) {
				res.Skipped++
				continue
			}
			attrs := map[string]sqstypes.MessageAttributeValue{}
			for k, v := range m.attrs {
				if k != AttrLastError {
					attrs[k] = v
				}
			}
			if _, err := d.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(d.source), MessageBody: aws.String(m.Body), MessageAttributes: attrs}); err != nil {
				return res, fmt.Errorf("redrive %s to %s: %w", m.MessageID, queueName(d.source), err)
			}
			if _, err := d.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.url), ReceiptHandle: aws.String(m.handle)}); err != nil {
				return res, fmt.Errorf("delete %s from %s after redriving it: %w", m.MessageID, queueName(d.url), err)
			}
			res.Moved++
			if progress != nil {
				progress(res)
			}
		}
	}
	return res, nil
}
