package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
)

// TestReplayDLQOnSQS lists an SQS DLQ (kumo) without consuming it, then
// redrives one delivery's messages to the source queue.
func TestReplayDLQOnSQS(t *testing.T) {
	k := awstest.StartKumo()
	defer k.Close()
	for _, kv := range awstest.EmulatorEnv(k.URL, "", "", "") {
		key, v, _ := strings.Cut(kv, "=")
		t.Setenv(key, v)
	}
	ctx := context.Background()
	client := sqs.NewFromConfig(awstest.Config(k.URL))
	c := awsinfra.ContractFor(fmt.Sprintf("cli%d", time.Now().UnixNano()), 0)
	p, err := awsinfra.Provision(ctx, client, nil, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	spec := c.Queues[1]
	dlq, src := p.QueueURLs[spec.DLQ], p.QueueURLs[spec.Name]
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	for i, d := range []string{"d-1", "d-2", "d-1"} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				awsinfra.AttrDeliveryID: str(d), awsinfra.AttrTarget: str("acme/web/deploy.yml"), awsinfra.AttrLastError: str("422 no trigger"),
			}}); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := runCLI(t, nil, "", "replay-dlq", "--queue-url", dlq, "--target", "ACME/web:deploy.yml")
	if code != 0 || !strings.Contains(out, "3 messages; 3 matching") || !strings.Contains(out, "422 no trigger") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, nil, "", "replay-dlq", "--queue-url", dlq, "--delivery-id", "d-1", "--yes", "--format", "json")
	var rep sqsReplayReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Moved != 2 || rep.DryRun {
		t.Fatalf("redrive: exit %d\n%s%s", code, out, errOut)
	}
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(src), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 {
		t.Fatalf("source holds %d messages, want the 2 of d-1", len(got.Messages))
	}
	for _, m := range got.Messages {
		if aws.ToString(m.MessageAttributes[awsinfra.AttrDeliveryID].StringValue) != "d-1" {
			t.Errorf("redriven %s", aws.ToString(m.Body))
		}
	}

	for _, args := range [][]string{
		{"replay-dlq", "--queue-url", dlq, "--db", "x.db"},
		{"replay-dlq", "--stage", "facts"},
		{"replay-dlq", "--queue-url", "https://sqs.example/1/q"},
	} {
		if code, _, _ := runCLI(t, nil, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
