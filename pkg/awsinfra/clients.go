package awsinfra

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Clients are the SDK clients of the four services.
type Clients struct {
	SQS            *sqs.Client
	EventBridge    *eventbridge.Client
	DynamoDB       *dynamodb.Client
	SecretsManager *secretsmanager.Client
}

// LoadConfig loads the SDK's default configuration (environment, shared
// files, the Lambda role), which honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>.
func LoadConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

// NewClients builds the clients from cfg.
func NewClients(cfg aws.Config) Clients {
	return Clients{
		SQS:            sqs.NewFromConfig(cfg),
		EventBridge:    eventbridge.NewFromConfig(cfg),
		DynamoDB:       dynamodb.NewFromConfig(cfg),
		SecretsManager: secretsmanager.NewFromConfig(cfg),
	}
}
