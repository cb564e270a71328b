package awsinfra_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// TestDLQPeekAndRedrive dead-letters three work items through the batch
// runner (permanent errors), peeks at them without consuming them, then
// redrives only one delivery's: receive → send to the source → delete.
func TestDLQPeekAndRedrive(t *testing.T) {
	client, c, p := queues(t)
	spec := c.Queues[1]
	url, dlqURL := p.QueueURLs[spec.Name], p.QueueURLs[spec.DLQ]
	q := awsinfra.NewQueue(client, url)
	for i := range 3 {
		if err := q.Enqueue(context.Background(), fmt.Sprint(i), workItem(i)); err != nil {
			t.Fatal(err)
		}
	}
	r := &awsinfra.BatchRunner{SQS: client, QueueURL: url, DLQURL: dlqURL, Logger: quiet,
		Handle: func(context.Context, pipeline.Message) error {
			return pipeline.PermanentError("dispatch", fmt.Errorf("422 Workflow does not have 'workflow_dispatch' trigger"))
		}}
	if resp := r.Run(context.Background(), sqsEvent(receive(t, client, url, 10))); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}

	dlq := awsinfra.NewDLQ(client, dlqURL, url)
	ctx := context.Background()
	if n, err := dlq.Depth(ctx); err != nil || n != 3 {
		t.Fatalf("depth %d, %v; want 3", n, err)
	}
	peek, err := dlq.Peek(ctx, 10)
	if err != nil || len(peek) != 3 {
		t.Fatalf("peek: %d, %v", len(peek), err)
	}
	for _, m := range peek {
		if !strings.Contains(m.LastError, "422") || m.DeliveryID == "" || m.Target == "" {
			t.Errorf("dead letter %+v lacks its last error, delivery or target", m)
		}
	}
	if n, _ := dlq.Depth(ctx); n != 3 {
		t.Fatalf("peek consumed messages: depth %d", n)
	}
	res, err := dlq.Redrive(ctx, func(m awsinfra.DeadLetter) bool { return m.DeliveryID == "d-1" }, 0, 1, nil)
	if err != nil || res.Moved != 1 {
		t.Fatalf("redrive = %+v, %v; want 1 moved", res, err)
	}
	back := receive(t, client, url, 10)
	ev := sqsEvent(back)
	if len(back) != 1 || ev.Records[0].MessageAttributes[awsinfra.AttrDeliveryID].StringValue == nil ||
		*ev.Records[0].MessageAttributes[awsinfra.AttrDeliveryID].StringValue != "d-1" {
		t.Fatalf("source holds %d messages, want d-1", len(back))
	}
	if _, ok := ev.Records[0].MessageAttributes[awsinfra.AttrLastError]; ok {
		t.Error("the redriven message still carries last_error")
	}
	if n, _ := dlq.Depth(ctx); n != 2 {
		t.Fatalf("DLQ depth %d after redriving one, want 2", n)
	}
	var _ events.SQSEvent = ev
}
