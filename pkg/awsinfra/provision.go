package awsinfra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Provisioned are the addresses of the resources Provision created.
type Provisioned struct {
	QueueURLs map[string]string // by queue name, DLQs included
	QueueARNs map[string]string
}

// Provision creates the resources of c that the runtime uses (queues with
// their DLQs and redrive policies, the bus, its rule and the rule's SQS
// target, the tables with their index and TTL) on the services behind
// sqsc, ebc and ddb. It is for emulators and tests: Terraform creates them
// on AWS. Point-in-time recovery is not set (emulators ignore it). A nil
// client skips its service.
func Provision(ctx context.Context, sqsc *sqs.Client, ebc *eventbridge.Client, ddb *dynamodb.Client, c Contract) (Provisioned, error) {
	p := Provisioned{QueueURLs: map[string]string{}, QueueARNs: map[string]string{}}
	if sqsc != nil {
		create := func(name string, attrs map[string]string) error {
			out, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
			if err != nil {
				return fmt.Errorf("create queue %s: %w", name, err)
			}
			p.QueueURLs[name] = aws.ToString(out.QueueUrl)
			a, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
			})
			if err != nil {
				return fmt.Errorf("queue %s arn: %w", name, err)
			}
			p.QueueARNs[name] = a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
			return nil
		}
		for _, q := range c.Queues {
			if err := create(q.DLQ, map[string]string{"MessageRetentionPeriod": strconv.Itoa(q.DLQRetentionSeconds)}); err != nil {
				return p, err
			}
			redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": p.QueueARNs[q.DLQ], "maxReceiveCount": q.MaxReceiveCount})
			if err := create(q.Name, map[string]string{
				"VisibilityTimeout":      strconv.Itoa(q.VisibilityTimeoutSeconds),
				"MessageRetentionPeriod": strconv.Itoa(q.RetentionSeconds),
				"RedrivePolicy":          string(redrive),
			}); err != nil {
				return p, err
			}
		}
	}
	if ebc != nil {
		if _, err := ebc.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(c.Bus.Name)}); err != nil {
			return p, fmt.Errorf("create event bus %s: %w", c.Bus.Name, err)
		}
		if _, err := ebc.PutRule(ctx, &eventbridge.PutRuleInput{
			Name: aws.String(c.Bus.Rule), EventBusName: aws.String(c.Bus.Name), EventPattern: aws.String(c.Bus.EventPattern),
		}); err != nil {
			return p, fmt.Errorf("put rule %s: %w", c.Bus.Rule, err)
		}
		arn := p.QueueARNs[c.Bus.TargetQueue]
		if arn == "" {
			return p, errors.New("put targets: the facts queue was not created (no SQS client)")
		}
		out, err := ebc.PutTargets(ctx, &eventbridge.PutTargetsInput{
			Rule: aws.String(c.Bus.Rule), EventBusName: aws.String(c.Bus.Name),
			Targets: []ebtypes.Target{{Id: aws.String("facts-queue"), Arn: aws.String(arn)}},
		})
		if err != nil {
			return p, fmt.Errorf("put targets %s: %w", c.Bus.Rule, err)
		}
		if out.FailedEntryCount > 0 {
			return p, fmt.Errorf("put targets %s: %d failed", c.Bus.Rule, out.FailedEntryCount)
		}
	}
	if ddb != nil {
		for _, t := range c.Tables {
			if err := createTable(ctx, ddb, t); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}

func createTable(ctx context.Context, ddb *dynamodb.Client, t Table) error {
	attrs := map[string]string{}
	keys := func(h Key, r *Key) []ddbtypes.KeySchemaElement {
		ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(h.Name), KeyType: ddbtypes.KeyTypeHash}}
		attrs[h.Name] = h.Type
		if r != nil {
			ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(r.Name), KeyType: ddbtypes.KeyTypeRange})
			attrs[r.Name] = r.Type
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(t.Name), KeySchema: keys(t.Hash, t.Range), BillingMode: ddbtypes.BillingModePayPerRequest,
	}
	for _, ix := range t.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: keys(ix.Hash, ix.Range),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.Projection)},
		})
	}
	for n, typ := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeType(typ)})
	}
	if _, err := ddb.CreateTable(ctx, in); err != nil {
		return fmt.Errorf("create table %s: %w", t.Name, err)
	}
	if _, err := ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(t.Name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(t.TTL), Enabled: aws.Bool(true)},
	}); err != nil {
		return fmt.Errorf("table %s ttl: %w", t.Name, err)
	}
	return nil
}
