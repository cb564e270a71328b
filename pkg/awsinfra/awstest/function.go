package awstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Function is a Lambda function process (a "bootstrap" binary) served by
// its own fake Runtime API.
type Function struct {
	API *RuntimeAPI
	// Started is when the process was started.
	Started time.Time

	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	logs   bytes.Buffer
}

// EmulatorEnv is the environment that points the AWS SDK at emulators:
// static credentials, us-east-1, no shared files or instance metadata, and
// AWS_ENDPOINT_URL_<SERVICE> for each non-empty endpoint.
func EmulatorEnv(sqsURL, eventsURL, secretsURL, dynamoURL string) []string {
	env := []string{
		"AWS_REGION=" + Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range map[string]string{"SQS": sqsURL, "EVENTBRIDGE": eventsURL, "SECRETS_MANAGER": secretsURL, "DYNAMODB": dynamoURL} {
		if v != "" {
			env = append(env, "AWS_ENDPOINT_URL_"+k+"="+v)
		}
	}
	return env
}

// StartFunction starts bin (a file named bootstrap, run with no
// arguments, as Lambda does) with env plus AWS_LAMBDA_RUNTIME_API and
// PATH; nothing else of this process's environment is passed.
func StartFunction(bin string, env []string) (*Function, error) {
	api := NewRuntimeAPI()
	f := &Function{API: api, exited: make(chan struct{})}
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_RUNTIME_API=" + api.Addr()}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	f.Started = time.Now()
	if err := cmd.Start(); err != nil {
		api.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	f.cmd = cmd
	go func() { cmd.Wait(); close(f.exited) }()
	return f, nil
}

// Write collects the process's output (it implements io.Writer).
func (f *Function) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.Write(p)
}

// Logs returns what the process wrote so far.
func (f *Function) Logs() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

// Exited is closed when the process has ended.
func (f *Function) Exited() <-chan struct{} { return f.exited }

// Invoke sends payload (bytes, or a value encoded as JSON) and waits for
// the answer; it fails with ErrNoAnswer when the process ends first.
func (f *Function) Invoke(ctx context.Context, payload any) (Result, error) {
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			return Result{}, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	res, err := f.API.Invoke(ctx, b)
	if err != nil {
		select {
		case <-f.exited:
			return Result{}, fmt.Errorf("%w: %s", ErrNoAnswer, f.Logs())
		default:
		}
	}
	return res, err
}

// Kill ends the process at once (a crash) and waits for it.
func (f *Function) Kill() {
	f.cmd.Process.Kill()
	<-f.exited
}

// Close kills the process and stops its Runtime API.
func (f *Function) Close() {
	f.Kill()
	f.API.Close()
}

// PollOnce does what a Lambda event source mapping does for one batch:
// receive up to 10 messages of queueURL (waiting at most wait seconds),
// hand them to invoke as an SQS event, then delete the messages the answer
// does not list as failed (none when invoke fails). It returns how many
// messages were received.
func PollOnce(ctx context.Context, client *sqs.Client, queueURL, queueARN string, wait int32,
	invoke func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)) (int, error) {
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return 0, fmt.Errorf("receive %s: %w", queueURL, err)
	}
	if len(out.Messages) == 0 {
		return 0, nil
	}
	ev := SQSEvent(out.Messages, queueARN)
	resp, err := invoke(ctx, ev)
	if err != nil {
		return len(out.Messages), nil // the whole batch is retried after the visibility timeout
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range out.Messages {
		if failed[aws.ToString(m.MessageId)] {
			continue
		}
		if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return len(out.Messages), fmt.Errorf("delete: %w", err)
		}
	}
	return len(out.Messages), nil
}

// SQSEvent is the Lambda event for received messages, as the event source
// mapping builds it.
func SQSEvent(msgs []sqstypes.Message, queueARN string) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		rec := events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: queueARN,
			AWSRegion: Region, MessageAttributes: map[string]events.SQSMessageAttribute{},
		}
		for k, v := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

// InvokeFunction adapts a Function to PollOnce: a handler error (an answer
// on /error) fails the whole batch.
func InvokeFunction(f *Function) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		res, err := f.Invoke(ctx, ev)
		if err != nil {
			return events.SQSEventResponse{}, err
		}
		if res.Error {
			return events.SQSEventResponse{}, fmt.Errorf("function error: %s", res.Payload)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(res.Payload, &resp); err != nil {
			return events.SQSEventResponse{}, fmt.Errorf("decode batch response: %w", err)
		}
		return resp, nil
	}
}
