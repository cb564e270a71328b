package awsinfra

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// Projections reads the read models the facts stage folds (the admin
// stage's queries): each read is a GetItem or a Query on one partition,
// never a scan.
type Projections struct {
	db          DynamoDBAPI
	events      string
	projections string
}

// NewProjections returns the reader over the events and projections
// tables.
func NewProjections(db DynamoDBAPI, eventsTable, projectionsTable string) *Projections {
	return &Projections{db: db, events: eventsTable, projections: projectionsTable}
}

func countsOf(item map[string]ddbtypes.AttributeValue) facts.Counts {
	return facts.Counts{
		Total: getN(item, "total_events"), RequestAccepted: getN(item, "request_accepted"),
		PlanCreated: getN(item, "plan_created"), TargetQueued: getN(item, "target_queued"),
		TargetDenied: getN(item, "target_denied"), TriggerSucceeded: getN(item, "trigger_succeeded"),
		TriggerFailed: getN(item, "trigger_failed"),
	}
}

func histogramOf(item map[string]ddbtypes.AttributeValue, p string) facts.Histogram {
	var h facts.Histogram
	h.Add(0) // sizes Counts
	h.Remove(0)
	for i := range h.Counts {
		h.Counts[i] = getN(item, p+"b"+strconv.Itoa(i))
	}
	h.Count, h.SumMillis = getN(item, p+"count"), getN(item, p+"sum_ms")
	if h.Count == 0 {
		return facts.Histogram{}
	}
	return h
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t.UTC()
}

func (p *Projections) get(ctx context.Context, pk, sk string) (map[string]ddbtypes.AttributeValue, error) {
	out, err := p.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(p.projections), Key: key(pk, sk)})
	if err != nil {
		return nil, fmt.Errorf("read %s %q: %w", pk, sk, err)
	}
	return out.Item, nil
}

// Summary returns the global counters, the time of the latest fact and
// the all-time latency histogram.
func (p *Projections) Summary(ctx context.Context) (facts.Summary, error) {
	item, err := p.get(ctx, projSummary, noSort)
	if err != nil {
		return facts.Summary{}, err
	}
	return facts.Summary{Counts: countsOf(item), LastEventAt: parseTime(getS(item, "last_event_at")), Latency: histogramOf(item, "lat_")}, nil
}

// Delivery returns the funnel of one delivery; ok is false when no fact of
// it was folded.
func (p *Projections) Delivery(ctx context.Context, deliveryID string) (f facts.Funnel, ok bool, err error) {
	item, err := p.get(ctx, projDelivery, deliveryID)
	if err != nil || item == nil {
		return facts.Funnel{}, false, err
	}
	if err := json.Unmarshal([]byte(getS(item, "funnel")), &f); err != nil {
		return facts.Funnel{}, false, fmt.Errorf("decode funnel %s: %w", deliveryID, err)
	}
	return f, true, nil
}

// RepoStats returns the counters of one source repository.
func (p *Projections) RepoStats(ctx context.Context, repo string) (facts.RepoStats, error) {
	item, err := p.get(ctx, projRepo, repo)
	if err != nil {
		return facts.RepoStats{}, err
	}
	return facts.RepoStats{Repo: repo, Counts: countsOf(item), LastEventAt: parseTime(getS(item, "last_event_at"))}, nil
}

// query pages through one partition of table, newest first when desc.
func (p *Projections) query(ctx context.Context, in *dynamodb.QueryInput, limit int, each func(map[string]ddbtypes.AttributeValue) error) error {
	n := 0
	for {
		page, err := p.db.Query(ctx, in)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if limit > 0 && n >= limit {
				return nil
			}
			if err := each(it); err != nil {
				return err
			}
			n++
		}
		if len(page.LastEvaluatedKey) == 0 || (limit > 0 && n >= limit) {
			return nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Journey returns every fact of a delivery, oldest first (the events
// table's by-delivery index).
func (p *Projections) Journey(ctx context.Context, deliveryID string) ([]facts.Event, error) {
	var out []facts.Event
	err := p.query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(p.events), IndexName: aws.String(DeliveryIndex),
		KeyConditionExpression:    aws.String("delivery_id = :d"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":d": str(deliveryID)},
	}, 0, func(it map[string]ddbtypes.AttributeValue) error {
		var e facts.Event
		if err := json.Unmarshal([]byte(getS(it, "event")), &e); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journey of %s: %w", deliveryID, err)
	}
	return out, nil
}

// RecentFailures returns the latest failed triggers, newest first.
func (p *Projections) RecentFailures(ctx context.Context, limit int) ([]facts.Failure, error) {
	var out []facts.Failure
	err := p.query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(p.projections), ScanIndexForward: aws.Bool(false),
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": str(projFailure)},
	}, limit, func(it map[string]ddbtypes.AttributeValue) error {
		var f facts.Failure
		if err := json.Unmarshal([]byte(getS(it, "failure")), &f); err != nil {
			return fmt.Errorf("decode failure: %w", err)
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recent failures: %w", err)
	}
	return out, nil
}

// HourlyTrend returns the hours hour buckets ending with the hour of end,
// oldest first (missing hours are zero).
func (p *Projections) HourlyTrend(ctx context.Context, end time.Time, hours int) ([]facts.HourBucket, error) {
	last := facts.HourKey(end)
	first := last - int64(max(hours-1, 0))*3600
	var stored []facts.HourBucket
	err := p.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(p.projections),
		KeyConditionExpression:    aws.String("pk = :p AND sk BETWEEN :a AND :b"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": str(projHour), ":a": str(pad(first)), ":b": str(pad(last))},
	}, 0, func(it map[string]ddbtypes.AttributeValue) error {
		stored = append(stored, facts.HourBucket{Hour: time.Unix(getN(it, "hour"), 0).UTC(), Counts: countsOf(it)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hourly trend: %w", err)
	}
	return facts.FillHours(end, hours, stored), nil
}
