package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestExampleRuns runs `go run ./examples/aws` in-process: the five
// functions as bootstrap processes on kumo and DynamoDB Local (or kumo's
// DynamoDB when it is not installed, outside CI) must dispatch the sample
// webhook's two authorised targets and fold its eleven facts.
func TestExampleRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := runNamed(ctx, &out, fmt.Sprintf("ex%d", time.Now().UnixNano())); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"→ 202 {\"accepted\":true}",
		"acme/deploy  cd.yml       ref=main",
		"acme/docs    publish.yml  ref=trunk",
		"dispatch.target.denied  acme/api ci.yml  (self_dispatch_blocked)",
		"Result issue opened in acme/api",
		"GET /health → 200",
		"11 facts: 1 accepted, 1 planned, 2 queued, 5 denied, 2 succeeded, 0 failed; delivery status success",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
}
