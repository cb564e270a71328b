package lambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// These tests drive the real dispatcher binary, built once as "bootstrap",
// through a fake Lambda Runtime API with the JSON events of testdata/,
// against kumo (SQS, EventBridge, Secrets Manager) and DynamoDB Local.
var (
	bootstrap string
	kumoSrv   *awstest.Kumo

	ddbOnce sync.Once
	ddbSrv  *awstest.DynamoDBLocal
	ddbErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dispatcher-lambda-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "../cmd/dispatcher")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bootstrap: %v\n%s", err, out)
		os.Exit(1)
	}
	kumoSrv = awstest.StartKumo()
	code := m.Run()
	kumoSrv.Close()
	if ddbSrv != nil {
		ddbSrv.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func dynamoURL(t *testing.T) string {
	t.Helper()
	ddbOnce.Do(func() {
		dir, err := awstest.DynamoDBLocalDir()
		if err != nil {
			ddbErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ddbSrv, ddbErr = awstest.StartDynamoDBLocal(ctx, dir)
	})
	if ddbErr != nil {
		t.Fatalf("DynamoDB Local: %v", ddbErr)
	}
	return ddbSrv.URL
}

// env is one test's resources: a fresh contract on the emulators.
type env struct {
	c    awsinfra.Contract
	p    awsinfra.Provisioned
	sqs  *sqs.Client
	ddb  *dynamodb.Client
	base []string // emulator endpoints and resource variables
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ddbURL := dynamoURL(t)
	c := awsinfra.ContractFor(fmt.Sprintf("l%d", time.Now().UnixNano()), 0)
	e := &env{c: c, sqs: sqs.NewFromConfig(awstest.Config(kumoSrv.URL)), ddb: dynamodb.NewFromConfig(awstest.Config(ddbURL))}
	p, err := awsinfra.Provision(context.Background(), e.sqs, eventbridge.NewFromConfig(awstest.Config(kumoSrv.URL)), e.ddb, c)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	n := c.Names()
	e.base = append(awstest.EmulatorEnv(kumoSrv.URL, kumoSrv.URL, kumoSrv.URL, ddbURL),
		"LOG_LEVEL=debug",
		"DISPATCH_REQUESTS_QUEUE_URL="+p.QueueURLs[n.RequestsQueue],
		"DISPATCH_REQUESTS_DLQ_URL="+p.QueueURLs[n.RequestsQueue+"-dlq"],
		"DISPATCH_TARGETS_QUEUE_URL="+p.QueueURLs[n.TargetsQueue],
		"DISPATCH_TARGETS_DLQ_URL="+p.QueueURLs[n.TargetsQueue+"-dlq"],
		"DISPATCH_FACTS_EVENT_BUS_NAME="+n.Bus,
		"DISPATCH_EVENTS_TABLE_NAME="+n.EventsTable,
		"DISPATCH_PROJECTIONS_TABLE_NAME="+n.ProjectionsTable,
		"DISPATCH_STATE_TABLE_NAME="+n.StateTable,
	)
	return e
}

func (e *env) start(t *testing.T, stage string, extra ...string) *awstest.Function {
	t.Helper()
	f, err := awstest.StartFunction(bootstrap, append(append([]string{"DISPATCHER_STAGE=" + stage}, e.base...), extra...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("%s logs:\n%s", stage, f.Logs())
		}
	})
	return f
}

func fixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func invoke[T any](t *testing.T, f *awstest.Function, payload any) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := f.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error {
		t.Fatalf("function error: %s", res.Payload)
	}
	var out T
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("answer %s: %v", res.Payload, err)
	}
	return out
}

const secret = "lambda-test-secret"

// webhookEventFor is the fixture's webhook event carrying body, signed
// with secret.
func webhookEventFor(body []byte) events.APIGatewayV2HTTPRequest {
	var ev events.APIGatewayV2HTTPRequest
	b, err := os.ReadFile(filepath.Join("testdata", "apigw-v2-webhook.json"))
	if err == nil {
		err = json.Unmarshal(b, &ev)
	}
	if err != nil {
		panic(err)
	}
	ev.Headers["x-hub-signature-256"] = pipeline.Sign([]byte(secret), body)
	ev.Body = string(body)
	return ev
}

func webhook(t *testing.T, secret, delivery string, base64Body bool) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	fixture(t, "apigw-v2-webhook.json", &ev)
	body, err := os.ReadFile("../examples/webhook/workflow_run.json")
	if err != nil {
		t.Fatal(err)
	}
	ev.Headers["x-hub-signature-256"] = pipeline.Sign([]byte(secret), body)
	ev.Headers["x-github-delivery"] = delivery
	ev.Body = string(body)
	if base64Body {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return ev
}

func TestIngressFunction(t *testing.T) {
	e := newEnv(t)
	f := e.start(t, "ingress", "GITHUB_WEBHOOK_SECRET="+secret)

	res := invoke[events.APIGatewayV2HTTPResponse](t, f, webhook(t, secret, "delivery-1", false))
	t.Logf("process start → first webhook answered: %v (fake Runtime API, emulators on loopback)", time.Since(f.Started))
	if res.StatusCode != 202 {
		t.Fatalf("webhook: %d %s", res.StatusCode, res.Body)
	}
	if res := invoke[events.APIGatewayV2HTTPResponse](t, f, webhook(t, secret, "delivery-1", true)); res.StatusCode != 409 {
		t.Fatalf("replay: %d %s, want 409", res.StatusCode, res.Body)
	}
	if res := invoke[events.APIGatewayV2HTTPResponse](t, f, webhook(t, "wrong", "delivery-2", false)); res.StatusCode != 401 {
		t.Fatalf("bad signature: %d %s, want 401", res.StatusCode, res.Body)
	}
	if res := invoke[events.APIGatewayV2HTTPResponse](t, f, webhook(t, secret, "delivery-3", true)); res.StatusCode != 202 {
		t.Fatalf("base64 body: %d %s, want 202", res.StatusCode, res.Body)
	}

	out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.p.QueueURLs[e.c.Names().RequestsQueue]), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range out.Messages {
		ids = append(ids, aws.ToString(m.MessageAttributes[awsinfra.AttrDeliveryID].StringValue))
	}
	if strings.Join(ids, ",") != "delivery-1,delivery-3" && strings.Join(ids, ",") != "delivery-3,delivery-1" {
		t.Fatalf("requests queue holds %v, want delivery-1 and delivery-3 once each", ids)
	}
}

// TestIngressMidRotation: with the webhook secret in Secrets Manager and a
// rotation under way (AWSCURRENT new, AWSPREVIOUS old), deliveries signed
// with either secret are accepted.
func TestIngressMidRotation(t *testing.T) {
	e := newEnv(t)
	sm := secretsmanager.NewFromConfig(awstest.Config(kumoSrv.URL))
	ctx := context.Background()
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(e.c.Prefix + "/webhook"), SecretString: aws.String("old")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: out.ARN, SecretString: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	f := e.start(t, "ingress", "GITHUB_WEBHOOK_SECRET_ARN="+aws.ToString(out.ARN))
	for i, s := range []string{"new", "old"} {
		if res := invoke[events.APIGatewayV2HTTPResponse](t, f, webhook(t, s, fmt.Sprint("rot-", i), false)); res.StatusCode != 202 {
			t.Errorf("signed with the %s secret: %d %s", s, res.StatusCode, res.Body)
		}
	}
	if res := invoke[events.APIGatewayV2HTTPResponse](t, f, webhook(t, "other", "rot-x", false)); res.StatusCode != 401 {
		t.Errorf("signed with another secret: %d, want 401", res.StatusCode)
	}
}

func TestAdminFunctionHealth(t *testing.T) {
	e := newEnv(t)
	f := e.start(t, "admin")
	var ev events.APIGatewayV2HTTPRequest
	fixture(t, "apigw-v2-health.json", &ev)
	res := invoke[events.APIGatewayV2HTTPResponse](t, f, ev)
	t.Logf("process start → first event answered (GET /health, no AWS call): %v", time.Since(f.Started))
	if res.StatusCode != 200 || !strings.Contains(res.Body, `"ok"`) {
		t.Fatalf("health: %d %s", res.StatusCode, res.Body)
	}
}

// TestFactsFunction: a fact delivered twice (an SQS redelivery) counts
// once; an undecodable message is reported failed and nothing else.
func TestFactsFunction(t *testing.T) {
	e := newEnv(t)
	f := e.start(t, "facts")
	var ev events.SQSEvent
	fixture(t, "sqs-facts.json", &ev)
	resp := invoke[events.SQSEventResponse](t, f, ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[2].MessageId {
		t.Fatalf("failures %+v, want only the third record", resp.BatchItemFailures)
	}
	resp = invoke[events.SQSEventResponse](t, f, events.SQSEvent{Records: ev.Records[:2]})
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery failed: %+v", resp.BatchItemFailures)
	}
	n := e.c.Names()
	sum, err := awsinfra.NewProjections(e.ddb, n.EventsTable, n.ProjectionsTable).Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 1 || sum.RequestAccepted != 1 {
		t.Fatalf("summary %+v, want the fact counted once", sum.Counts)
	}
}

// TestDispatcherFunctionDispatchesOnce: the same work item twice in a
// batch, and the batch delivered again, give one workflow_dispatch.
func TestDispatcherFunctionDispatchesOnce(t *testing.T) {
	e := newEnv(t)
	gh := ghfake.New()
	t.Cleanup(gh.Close)
	gh.AddRepo(ghfake.Repo{FullName: "acme/web", Files: map[string]string{".github/workflows/deploy.yml": "on:\n  workflow_dispatch:\n    inputs:\n      sha: {}\n"}})
	gh.AddInstallation(1234, "acme/web")
	f := e.start(t, "dispatcher", fmt.Sprint("GITHUB_APP_ID=", gh.AppID()),
		"GITHUB_APP_PRIVATE_KEY="+string(gh.PrivateKeyPEM()), "GITHUB_API_URL="+gh.URL())
	var ev events.SQSEvent
	fixture(t, "sqs-targets.json", &ev)
	invoke[events.SQSEventResponse](t, f, ev)
	if n := len(gh.Dispatches()); n != 1 {
		t.Fatalf("%d dispatches after the first batch, want 1", n)
	}
	resp := invoke[events.SQSEventResponse](t, f, ev)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivered batch: failures %+v, want none (the claim is done)", resp.BatchItemFailures)
	}
	if d := gh.Dispatches(); len(d) != 1 || d[0].Repository != "acme/web" || d[0].Workflow != "deploy.yml" {
		t.Fatalf("dispatches %+v, want one of acme/web deploy.yml", d)
	}
}

func TestLambdaUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"lambda"}, []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9"}, "name a stage"},
		{[]string{"lambda", "bogus"}, []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9"}, `unknown stage "bogus"`},
		{[]string{"lambda", "planner"}, nil, "AWS_LAMBDA_RUNTIME_API is not set"},
		{[]string{"lambda", "ingress"}, []string{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9"}, "GITHUB_WEBHOOK_SECRET"},
	} {
		cmd := exec.Command(bootstrap, tc.args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tc.env...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v\n%s\nwant exit 2 mentioning %q", tc.args, err, out, tc.want)
		}
	}
}
