package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
)

const (
	secret       = "aws-example-webhook-secret"
	installation = 1234 // the installation id in examples/webhook/workflow_run.json
	delivery     = "aws-example-delivery-1"
)

// world is the emulated AWS account and GitHub: kumo on 127.0.0.1:4566,
// DynamoDB Local (or kumo's DynamoDB), the resources of the contract and a
// fake GitHub holding examples/world.
type world struct {
	root      string
	kumo      *awstest.Kumo
	ddb       *awstest.DynamoDBLocal
	dynamoURL string
	contract  awsinfra.Contract
	res       awsinfra.Provisioned
	sqs       *sqs.Client
	dynamo    *dynamodb.Client
	gh        *ghfake.Server
}

// newWorld starts the emulators and creates the resources named name
// (kumo keeps one state per process, so each world of a test process
// needs its own name). requireDynamo makes a missing DynamoDB Local an
// error instead of falling back to kumo's DynamoDB.
func newWorld(ctx context.Context, log io.Writer, name string, requireDynamo bool) (_ *world, err error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	w := &world{root: root}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.kumo, err = awstest.StartKumoAt(awstest.KumoAddr); err != nil {
		return nil, err
	}
	w.dynamoURL = w.kumo.URL
	if dir, derr := awstest.DynamoDBLocalDir(); derr == nil {
		w.ddb, derr = awstest.StartDynamoDBLocal(ctx, dir)
		switch {
		case derr == nil:
			w.dynamoURL = w.ddb.URL
			fmt.Fprintf(log, "DynamoDB Local at %s; kumo (SQS, EventBridge, Secrets Manager) at %s\n", w.ddb.URL, w.kumo.URL)
		case requireDynamo || !errors.Is(derr, awstest.ErrMissing):
			return nil, derr
		default:
			fmt.Fprintf(log, "(%v; using kumo's DynamoDB)\nkumo at %s\n", derr, w.kumo.URL)
		}
	}
	w.sqs = sqs.NewFromConfig(awstest.Config(w.kumo.URL))
	w.dynamo = dynamodb.NewFromConfig(awstest.Config(w.dynamoURL))
	w.contract = awsinfra.ContractFor(name, 0)
	if w.res, err = awsinfra.Provision(ctx, w.sqs, eventbridge.NewFromConfig(awstest.Config(w.kumo.URL)), w.dynamo, w.contract); err != nil {
		return nil, err
	}

	// The fake GitHub: examples/world's repositories, one installation,
	// as examples/demo sets it up.
	w.gh = ghfake.New()
	repos, err := w.gh.AddWorld(filepath.Join(root, "examples", "world"))
	if err != nil {
		return nil, err
	}
	w.gh.AddRepo(ghfake.Repo{FullName: "acme/billing", Files: map[string]string{".github/workflows/cd.yml": "on: workflow_dispatch\n"}})
	w.gh.AddInstallation(installation, append(repos, "acme/billing")...)
	return w, nil
}

// env is the functions' environment: what Terraform sets on AWS, plus the
// emulator endpoints (AWS_ENDPOINT_URL_<SERVICE>) and the fake GitHub.
func (w *world) env() []string {
	n := w.contract.Names()
	return append(awstest.EmulatorEnv(w.kumo.URL, w.kumo.URL, w.kumo.URL, w.dynamoURL),
		"GITHUB_WEBHOOK_SECRET="+secret,
		"GITHUB_APP_ID="+strconv.FormatInt(w.gh.AppID(), 10),
		"GITHUB_APP_PRIVATE_KEY="+string(w.gh.PrivateKeyPEM()),
		"GITHUB_API_URL="+w.gh.URL(),
		"DISPATCH_REQUESTS_QUEUE_URL="+w.res.QueueURLs[n.RequestsQueue],
		"DISPATCH_REQUESTS_DLQ_URL="+w.res.QueueURLs[n.RequestsQueue+"-dlq"],
		"DISPATCH_TARGETS_QUEUE_URL="+w.res.QueueURLs[n.TargetsQueue],
		"DISPATCH_TARGETS_DLQ_URL="+w.res.QueueURLs[n.TargetsQueue+"-dlq"],
		"DISPATCH_FACTS_EVENT_BUS_NAME="+n.Bus,
		"DISPATCH_EVENTS_TABLE_NAME="+n.EventsTable,
		"DISPATCH_PROJECTIONS_TABLE_NAME="+n.ProjectionsTable,
		"DISPATCH_STATE_TABLE_NAME="+n.StateTable,
		"ADMIN_TOKEN=aws-example-admin-token",
	)
}

// projections reads the read models the facts function folded.
func (w *world) projections() *awsinfra.Projections {
	n := w.contract.Names()
	return awsinfra.NewProjections(w.dynamo, n.EventsTable, n.ProjectionsTable)
}

// Close stops everything started.
func (w *world) Close() {
	if w.gh != nil {
		w.gh.Close()
	}
	if w.ddb != nil {
		w.ddb.Close()
	}
	if w.kumo != nil {
		w.kumo.Close()
	}
}

// buildBootstrap builds the dispatcher binary as dir/bootstrap, as the
// release's Lambda zip holds it.
func buildBootstrap(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", bin, "./cmd/dispatcher")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bootstrap: %w\n%s", err, out)
	}
	return bin, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it from inside the repository (go run ./examples/aws)")
		}
		dir = parent
	}
}
