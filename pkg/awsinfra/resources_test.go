package awsinfra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
)

// tfResources is the part of terraform/resources.json (the Terraform
// module's contract, checked against the HCL by terraform/terraform_test.go)
// that the runtime depends on: names are without the prefix there.
type tfResources struct {
	DefaultName             string `json:"default_name"`
	FunctionTimeoutSeconds  int    `json:"function_timeout_seconds"`
	VisibilityTimeoutFactor int    `json:"visibility_timeout_factor"`
	Queues                  []struct {
		Name                       string `json:"name"`
		DLQ                        string `json:"dlq"`
		Consumer                   string `json:"consumer"`
		MaxReceiveCount            int    `json:"max_receive_count"`
		MessageRetentionSeconds    int    `json:"message_retention_seconds"`
		DLQMessageRetentionSeconds int    `json:"dlq_message_retention_seconds"`
	} `json:"queues"`
	EventBus struct {
		Name         string          `json:"name"`
		Rule         string          `json:"rule"`
		EventPattern json.RawMessage `json:"event_pattern"`
		TargetQueue  string          `json:"target_queue"`
	} `json:"event_bus"`
	Tables []struct {
		Name    string         `json:"name"`
		HashKey awsinfra.Key   `json:"hash_key"`
		Range   *awsinfra.Key  `json:"range_key"`
		TTL     string         `json:"ttl_attribute"`
		Indexes []tfIndexShape `json:"indexes"`
	} `json:"tables"`
}

type tfIndexShape struct {
	Name  string        `json:"name"`
	Hash  awsinfra.Key  `json:"hash_key"`
	Range *awsinfra.Key `json:"range_key"`
}

// TestContractMatchesTerraform keeps the resources this runtime creates
// (examples/aws) and uses in step with the ones the Terraform module
// declares: queue, bus, rule and table names, keys, indexes, TTL
// attribute, receive counts, retention and the visibility timeout.
func TestContractMatchesTerraform(t *testing.T) {
	path := filepath.Join("..", "..", "terraform", "resources.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tf tfResources
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	p := tf.DefaultName
	c := awsinfra.ContractFor(p, tf.FunctionTimeoutSeconds)
	if len(tf.Queues) != len(c.Queues) {
		t.Fatalf("%d queues in %s, %d here", len(tf.Queues), path, len(c.Queues))
	}
	for i, q := range tf.Queues {
		got := awsinfra.QueueSpec{Name: p + "-" + q.Name, DLQ: p + "-" + q.DLQ, MaxReceiveCount: q.MaxReceiveCount,
			VisibilityTimeoutSeconds: tf.VisibilityTimeoutFactor * tf.FunctionTimeoutSeconds,
			RetentionSeconds:         q.MessageRetentionSeconds, DLQRetentionSeconds: q.DLQMessageRetentionSeconds, Consumer: q.Consumer}
		if diff := cmp.Diff(c.Queues[i], got); diff != "" {
			t.Errorf("queue %d (-pkg/awsinfra +%s):\n%s", i, path, diff)
		}
	}
	var pattern, want any
	if err := json.Unmarshal(tf.EventBus.EventPattern, &pattern); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(c.Bus.EventPattern), &want); err != nil {
		t.Fatal(err)
	}
	bus := awsinfra.BusSpec{Name: p + "-" + tf.EventBus.Name, Rule: p + "-" + tf.EventBus.Rule, EventPattern: c.Bus.EventPattern, TargetQueue: p + "-" + tf.EventBus.TargetQueue}
	if diff := cmp.Diff(c.Bus, bus); diff != "" || !cmp.Equal(pattern, want) {
		t.Errorf("event bus (-pkg/awsinfra +%s):\n%s; pattern %v, want %v", path, diff, pattern, want)
	}
	if len(tf.Tables) != len(c.Tables) {
		t.Fatalf("%d tables in %s, %d here", len(tf.Tables), path, len(c.Tables))
	}
	for i, tb := range tf.Tables {
		mine := c.Tables[i]
		var idx []tfIndexShape
		for _, x := range mine.Indexes {
			idx = append(idx, tfIndexShape{Name: x.Name, Hash: x.Hash, Range: x.Range})
		}
		if p+"-"+tb.Name != mine.Name || tb.HashKey != mine.Hash || !cmp.Equal(tb.Range, mine.Range) || tb.TTL != mine.TTL || !cmp.Equal(tb.Indexes, idx) {
			t.Errorf("table %s in %s = %+v, here %+v", tb.Name, path, tb, mine)
		}
	}
}

// TestContract pins the names and settings of COORDINATION's "AWS
// resources" section.
func TestContract(t *testing.T) {
	c := awsinfra.ContractFor("", 0)
	n := c.Names()
	want := awsinfra.Names{
		RequestsQueue: "dispatcher-requests", TargetsQueue: "dispatcher-targets", FactsQueue: "dispatcher-facts",
		Bus: "dispatcher-facts", EventsTable: "dispatcher-events", ProjectionsTable: "dispatcher-projections", StateTable: "dispatcher-state",
	}
	if n != want {
		t.Fatalf("names %+v", n)
	}
	for _, q := range c.Queues {
		if q.DLQ != q.Name+"-dlq" || q.VisibilityTimeoutSeconds != 180 || q.MaxReceiveCount != 5 ||
			q.RetentionSeconds != 345600 || q.DLQRetentionSeconds != 1209600 {
			t.Errorf("queue %+v", q)
		}
	}
	ev := c.Tables[0]
	if ev.Hash.Name != "id" || len(ev.Indexes) != 1 || ev.Indexes[0].Name != "by-delivery" || ev.Indexes[0].Hash.Name != "delivery_id" ||
		ev.Indexes[0].Range.Name != "time" || ev.TTL != "expires_at" {
		t.Errorf("events table %+v", ev)
	}
	if c.Bus.EventPattern != `{"source":[{"prefix":"dispatcher"}]}` || len(c.Functions) != 5 || c.Functions[4] != "dispatcher-admin" {
		t.Errorf("bus %+v functions %v", c.Bus, c.Functions)
	}
}
