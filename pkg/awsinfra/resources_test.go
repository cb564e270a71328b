package awsinfra_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
)

// TestContractMatchesTerraform compares the contract with
// terraform/resources.json, which the Terraform module's test writes from
// the module (branch tf). Until that file exists the test is skipped;
// once it exists any difference fails.
func TestContractMatchesTerraform(t *testing.T) {
	path := filepath.Join("..", "..", "terraform", "resources.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet (written by the Terraform module's test)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	var tf awsinfra.Contract
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if diff := cmp.Diff(awsinfra.ContractFor(tf.Prefix, 0), tf); diff != "" {
		t.Fatalf("contract (-pkg/awsinfra +%s):\n%s", path, diff)
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
