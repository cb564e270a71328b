package awsinfra_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
)

// One kumo and (started on first use) one DynamoDB Local serve every test
// of the package; each test creates its own resources under a random name
// prefix.
var (
	kumoSrv *awstest.Kumo

	ddbOnce sync.Once
	ddbSrv  *awstest.DynamoDBLocal
	ddbErr  error
)

func TestMain(m *testing.M) {
	kumoSrv = awstest.StartKumo()
	code := m.Run()
	kumoSrv.Close()
	if ddbSrv != nil {
		ddbSrv.Close()
	}
	os.Exit(code)
}

// quiet discards the adapters' logs.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func prefix(t testing.TB) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

func kumoSQS() *sqs.Client { return sqs.NewFromConfig(awstest.Config(kumoSrv.URL)) }

func kumoEvents() *eventbridge.Client {
	return eventbridge.NewFromConfig(awstest.Config(kumoSrv.URL))
}

func kumoSecrets() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(awstest.Config(kumoSrv.URL))
}

// dynamo returns a client of the package's DynamoDB Local, starting it on
// first use. A missing java or jar fails the test with how to install it
// (never a skip: these tests must run in CI).
func dynamo(t testing.TB) *dynamodb.Client {
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
	return dynamodb.NewFromConfig(awstest.Config(ddbSrv.URL))
}

// tables creates the contract's tables under a fresh prefix on DynamoDB
// Local and returns their names.
func tables(t testing.TB) (*dynamodb.Client, awsinfra.Names) {
	t.Helper()
	db := dynamo(t)
	c := awsinfra.ContractFor(prefix(t), 0)
	if _, err := awsinfra.Provision(context.Background(), nil, nil, db, c); err != nil {
		t.Fatal(err)
	}
	return db, c.Names()
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
