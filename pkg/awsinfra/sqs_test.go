package awsinfra_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// queues provisions the contract's queues on kumo.
func queues(t testing.TB) (*sqs.Client, awsinfra.Contract, awsinfra.Provisioned) {
	t.Helper()
	c := awsinfra.ContractFor(prefix(t), 0)
	client := kumoSQS()
	p, err := awsinfra.Provision(context.Background(), client, nil, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	return client, c, p
}

func receive(t testing.TB, client *sqs.Client, url string, max int32) []sqstypes.Message {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: max, MessageAttributeNames: []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		VisibilityTimeout:           60,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

func depth(t testing.TB, client *sqs.Client, url string) (visible, hidden int) {
	t.Helper()
	out, err := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	h, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return v, h
}

func workItem(i int) []byte {
	b, _ := json.Marshal(pipeline.WorkItem{
		DeliveryID: "d-" + strconv.Itoa(i), InstallationID: 1,
		Source: plan.Source{Repository: "acme/api", RunID: 42},
		Target: plan.Target{Repository: "acme/web", Workflow: fmt.Sprintf("w%d.yml", i)},
	})
	return b
}

func TestQueueEnqueueSetsAttributes(t *testing.T) {
	client, c, p := queues(t)
	q := awsinfra.NewQueue(client, p.QueueURLs[c.Queues[1].Name])
	body := workItem(1)
	if err := q.Enqueue(context.Background(), "key-1", body); err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, client, q.URL(), 10)
	if len(msgs) != 1 || aws.ToString(msgs[0].Body) != string(body) {
		t.Fatalf("received %d messages, want the one sent", len(msgs))
	}
	attr := func(n string) string { return aws.ToString(msgs[0].MessageAttributes[n].StringValue) }
	if attr(awsinfra.AttrDeliveryID) != "d-1" || attr(awsinfra.AttrTarget) != "acme/web/w1.yml" || attr(awsinfra.AttrDedupID) != "key-1" {
		t.Fatalf("attributes = %v", msgs[0].MessageAttributes)
	}
}

func TestQueueEnqueueBatchSendsAll(t *testing.T) {
	client, c, p := queues(t)
	q := awsinfra.NewQueue(client, p.QueueURLs[c.Queues[1].Name])
	var msgs []awsinfra.OutMessage
	for i := range 23 {
		msgs = append(msgs, awsinfra.OutMessage{DedupID: strconv.Itoa(i), Body: workItem(i)})
	}
	if err := q.EnqueueBatch(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if v, _ := depth(t, client, q.URL()); v != 23 {
		t.Fatalf("queue depth %d, want 23", v)
	}
}

// flakySQS fails chosen batch entries a number of times and records the
// entries of every call.
type flakySQS struct {
	awsinfra.SQSAPI
	failures map[string]int // entry dedup id → failures left
	calls    [][]string
}

func (f *flakySQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out := &sqs.SendMessageBatchOutput{}
	var ids []string
	for _, e := range in.Entries {
		d := aws.ToString(e.MessageAttributes[awsinfra.AttrDedupID].StringValue)
		ids = append(ids, d)
		if f.failures[d] > 0 {
			f.failures[d]--
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again")})
			continue
		}
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m-" + d)})
	}
	f.calls = append(f.calls, ids)
	return out, nil
}

func TestQueueEnqueueBatchRetriesOnlyFailedEntries(t *testing.T) {
	f := &flakySQS{failures: map[string]int{"2": 1, "5": 2}}
	q := awsinfra.NewQueue(f, "https://sqs.example/1/q")
	var msgs []awsinfra.OutMessage
	for i := range 7 {
		msgs = append(msgs, awsinfra.OutMessage{DedupID: strconv.Itoa(i), Body: []byte("{}")})
	}
	if err := q.EnqueueBatch(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([][]string{{"0", "1", "2", "3", "4", "5", "6"}, {"2", "5"}, {"5"}})
	if got := fmt.Sprint(f.calls); got != want {
		t.Fatalf("calls %s, want %s", got, want)
	}
	f = &flakySQS{failures: map[string]int{"1": 5}}
	q = awsinfra.NewQueue(f, "https://sqs.example/1/q")
	if err := q.EnqueueBatch(context.Background(), msgs[:3]); err == nil {
		t.Fatal("an entry failing every attempt gave no error")
	}
}

// sqsEvent turns received messages into the event Lambda would deliver.
func sqsEvent(msgs []sqstypes.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		rec := events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{}}
		for k, v := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

func TestBatchRunnerPartialFailures(t *testing.T) {
	client, c, p := queues(t)
	spec := c.Queues[1]
	url, dlq := p.QueueURLs[spec.Name], p.QueueURLs[spec.DLQ]
	q := awsinfra.NewQueue(client, url)
	for i := range 4 {
		if err := q.Enqueue(context.Background(), strconv.Itoa(i), workItem(i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs := receive(t, client, url, 10)
	if len(msgs) != 4 {
		t.Fatalf("received %d, want 4", len(msgs))
	}
	seen := map[string]pipeline.Message{}
	r := &awsinfra.BatchRunner{
		SQS: client, QueueURL: url, DLQURL: dlq, Concurrency: 2, Logger: quiet,
		Handle: func(_ context.Context, m pipeline.Message) error {
			var w pipeline.WorkItem
			json.Unmarshal(m.Body, &w)
			switch w.DeliveryID {
			case "d-1":
				return pipeline.PermanentError("dispatch", fmt.Errorf("422 no such workflow"))
			case "d-2":
				return fmt.Errorf("503 from GitHub")
			case "d-3":
				panic("bug")
			}
			return nil
		},
	}
	var mu sync.Mutex
	handle := r.Handle
	r.Handle = func(ctx context.Context, m pipeline.Message) error {
		mu.Lock()
		seen[m.ID] = m
		mu.Unlock()
		return handle(ctx, m)
	}
	resp := r.Run(context.Background(), sqsEvent(msgs))
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range msgs {
		var w pipeline.WorkItem
		json.Unmarshal([]byte(aws.ToString(m.Body)), &w)
		wantFailed := w.DeliveryID == "d-2" || w.DeliveryID == "d-3"
		if failed[aws.ToString(m.MessageId)] != wantFailed {
			t.Errorf("%s: reported failed = %v, want %v", w.DeliveryID, !wantFailed, wantFailed)
		}
		if got := seen[aws.ToString(m.MessageId)]; got.ReceiveCount != 1 || got.MaxReceives != awsinfra.MaxReceiveCount {
			t.Errorf("%s: handler saw receive %d of %d, want 1 of %d", w.DeliveryID, got.ReceiveCount, got.MaxReceives, awsinfra.MaxReceiveCount)
		}
	}
	dead := receive(t, client, dlq, 10)
	if len(dead) != 1 || aws.ToString(dead[0].MessageAttributes[awsinfra.AttrDeliveryID].StringValue) != "d-1" ||
		aws.ToString(dead[0].MessageAttributes[awsinfra.AttrLastError].StringValue) == "" {
		t.Fatalf("DLQ holds %d messages, want d-1 with its last error", len(dead))
	}
}

// TestBatchRunnerRetryDelay checks that a failed message is hidden for the
// retry delay (ChangeMessageVisibility) and not the 60 s it was received
// with: with a delay of 0 it is visible again at once.
func TestBatchRunnerRetryDelay(t *testing.T) {
	client, c, p := queues(t)
	url := p.QueueURLs[c.Queues[0].Name]
	if err := awsinfra.NewQueue(client, url).Enqueue(context.Background(), "x", []byte(`{"delivery_id":"d"}`)); err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, client, url, 1)
	r := &awsinfra.BatchRunner{SQS: client, QueueURL: url, Logger: quiet, RetryDelay: func(pipeline.Message, error) time.Duration { return 0 },
		Handle: func(context.Context, pipeline.Message) error { return fmt.Errorf("transient") }}
	if resp := r.Run(context.Background(), sqsEvent(msgs)); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	again := receive(t, client, url, 1)
	if len(again) != 1 || again[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after a retry with no delay the message is not visible again (got %d)", len(again))
	}
}
