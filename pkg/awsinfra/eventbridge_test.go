package awsinfra_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

func manyFacts(n int) []facts.Event {
	var out []facts.Event
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for i := range n {
		out = append(out, facts.New(facts.TypeRequestAccepted, t0, facts.Data{DeliveryID: fmt.Sprintf("d%d", i), SourceRepo: "acme/api"}))
	}
	return out
}

func TestBusPublishOnKumo(t *testing.T) {
	client := kumoEvents()
	c := awsinfra.ContractFor(prefix(t), 0)
	if _, err := client.CreateEventBus(context.Background(), &eventbridge.CreateEventBusInput{Name: aws.String(c.Bus.Name)}); err != nil {
		t.Fatal(err)
	}
	if err := awsinfra.NewBus(client, c.Bus.Name).Publish(context.Background(), manyFacts(13)...); err != nil {
		t.Fatal(err)
	}
	// A bus that does not exist is an error, not a silent drop.
	if err := awsinfra.NewBus(client, c.Bus.Name+"-missing").Publish(context.Background(), manyFacts(1)...); err == nil {
		t.Log("kumo accepted PutEvents on a missing bus (AWS answers ResourceNotFoundException)")
	}
}

// flakyBus fails chosen entries (by fact id) a number of times and
// records the entries of each call.
type flakyBus struct {
	failures map[string]int
	calls    [][]string
}

func (f *flakyBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	out := &eventbridge.PutEventsOutput{}
	var ids []string
	for _, e := range in.Entries {
		var ev facts.Event
		json.Unmarshal([]byte(aws.ToString(e.Detail)), &ev)
		ids = append(ids, ev.Data.DeliveryID)
		if aws.ToString(e.Source) != awsinfra.FactsSource || aws.ToString(e.DetailType) != ev.Type {
			return nil, fmt.Errorf("entry source %q detail-type %q", aws.ToString(e.Source), aws.ToString(e.DetailType))
		}
		if f.failures[ev.Data.DeliveryID] > 0 {
			f.failures[ev.Data.DeliveryID]--
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("retry")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String("e-" + ev.ID)})
	}
	f.calls = append(f.calls, ids)
	return out, nil
}

func noSleep(context.Context, int) error { return nil }

func TestBusRetriesOnlyFailedEntries(t *testing.T) {
	f := &flakyBus{failures: map[string]int{"d3": 1, "d11": 2}}
	b := awsinfra.NewBus(f, "bus")
	b.Sleep = noSleep
	if err := b.Publish(context.Background(), manyFacts(12)...); err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(f.calls))
	for i, c := range f.calls {
		got[i] = strings.Join(c, ",")
	}
	want := []string{"d0,d1,d2,d3,d4,d5,d6,d7,d8,d9", "d3", "d10,d11", "d11", "d11"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Fatalf("calls\n %s\nwant\n %s", strings.Join(got, " | "), strings.Join(want, " | "))
	}
	f = &flakyBus{failures: map[string]int{"d1": 100}}
	b = awsinfra.NewBus(f, "bus")
	b.Sleep = noSleep
	err := b.Publish(context.Background(), manyFacts(3)...)
	if err == nil || !strings.Contains(err.Error(), "InternalFailure") || len(f.calls) != awsinfra.DefaultPublishAttempts {
		t.Fatalf("an entry failing every time: err %v after %d calls", err, len(f.calls))
	}
}

func TestDecodeFactFromEnvelope(t *testing.T) {
	e := manyFacts(1)[0]
	detail, _ := json.Marshal(e)
	env, _ := json.Marshal(awsinfra.Envelope{Version: "0", ID: "x", DetailType: e.Type, Source: "dispatcher", Detail: detail})
	for _, body := range [][]byte{env, detail} {
		got, err := awsinfra.DecodeFact(body)
		if err != nil || got.ID != e.ID || !got.Time.Equal(e.Time) {
			t.Fatalf("decode %s: %+v, %v", body, got, err)
		}
	}
	if _, err := awsinfra.DecodeFact([]byte("not json")); err == nil {
		t.Fatal("garbage decoded")
	}
}
