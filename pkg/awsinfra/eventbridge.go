package awsinfra

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// EventBridgeAPI is the part of the EventBridge client the publisher uses.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// DefaultPublishAttempts is how many PutEvents calls a chunk gets before
// Publish gives up on its failed entries.
const DefaultPublishAttempts = 4

// Bus publishes facts to an EventBridge bus: Source "dispatcher",
// DetailType the fact type, Detail the CloudEvents JSON of the fact. The
// facts rule delivers them to the facts queue, and the facts stage folds
// them into DynamoDB once per fact id. It implements
// pipeline.FactPublisher.
type Bus struct {
	client EventBridgeAPI
	name   string
	// Attempts bounds the PutEvents calls per chunk (DefaultPublishAttempts
	// when 0).
	Attempts int
	// Sleep waits between attempts (a context-aware sleep of 50 ms × 2^n by
	// default); tests replace it.
	Sleep func(ctx context.Context, attempt int) error
}

// NewBus returns a publisher to the bus name.
func NewBus(client EventBridgeAPI, name string) *Bus { return &Bus{client: client, name: name} }

func defaultSleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(50 * time.Millisecond << attempt)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Publish puts events on the bus in chunks of MaxBatchEntries. A response
// with a non-zero FailedEntryCount is not a success: the failed entries,
// and only those, are put again (up to Attempts calls); if some still
// fail, Publish returns an error naming them. Entries already accepted may
// be delivered again when the caller retries: the fold counts a fact id
// once.
func (b *Bus) Publish(ctx context.Context, evs ...facts.Event) error {
	for start := 0; start < len(evs); start += MaxBatchEntries {
		if err := b.putChunk(ctx, evs[start:min(start+MaxBatchEntries, len(evs))]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bus) putChunk(ctx context.Context, evs []facts.Event) error {
	entries := make([]ebtypes.PutEventsRequestEntry, 0, len(evs))
	for _, e := range evs {
		detail, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("publish fact %s: %w", e.ID, err)
		}
		entries = append(entries, ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(b.name), Source: aws.String(FactsSource),
			DetailType: aws.String(e.Type), Detail: aws.String(string(detail)),
			Time: aws.Time(e.Time), Resources: []string{},
		})
	}
	attempts := b.Attempts
	if attempts <= 0 {
		attempts = DefaultPublishAttempts
	}
	sleep := b.Sleep
	if sleep == nil {
		sleep = defaultSleep
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	var failures []string
	for attempt := 0; ; attempt++ {
		out, err := b.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("eventbridge put events on %s: %w", b.name, err)
		}
		if out.FailedEntryCount == 0 {
			return nil
		}
		// Result entries are in request order; keep the failed ones.
		var retry []ebtypes.PutEventsRequestEntry
		var retryIDs []string
		failures = failures[:0]
		for i, r := range out.Entries {
			if r.ErrorCode == nil && r.EventId != nil {
				continue
			}
			if i < len(entries) {
				retry = append(retry, entries[i])
				retryIDs = append(retryIDs, ids[i])
				failures = append(failures, fmt.Sprintf("%s: %s %s", ids[i], aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage)))
			}
		}
		if len(retry) == 0 { // a count without failed entries: retry everything
			retry, retryIDs = entries, ids
			failures = append(failures, fmt.Sprintf("%d entries failed without details", out.FailedEntryCount))
		}
		if attempt+1 >= attempts {
			return fmt.Errorf("eventbridge put events on %s: %d of %d entries failed after %d attempts: %s",
				b.name, len(retry), len(evs), attempts, strings.Join(failures, "; "))
		}
		if err := sleep(ctx, attempt); err != nil {
			return fmt.Errorf("eventbridge put events on %s: %w", b.name, err)
		}
		entries, ids = retry, retryIDs
	}
}

// Envelope is the event EventBridge delivers to the facts queue: the
// message body the facts stage receives.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// DecodeFact reads the fact in an EventBridge envelope (the body of a
// facts-queue message). A bare CloudEvents fact is accepted too, so that
// a message redriven by hand or sent by a test works.
func DecodeFact(body []byte) (facts.Event, error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return facts.Event{}, fmt.Errorf("decode facts message: %w", err)
	}
	raw := []byte(env.Detail)
	if len(env.Detail) == 0 || string(env.Detail) == "null" {
		raw = body
	}
	var e facts.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return facts.Event{}, fmt.Errorf("decode fact: %w", err)
	}
	return e, nil
}
