package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// Ports that keep nothing, so that the benchmark measures the ingress.
type discard struct{}

func (discard) Enqueue(context.Context, string, []byte) error { return nil }
func (discard) Seen(context.Context, string) (bool, error)    { return false, nil }
func (discard) Record(context.Context, string) error          { return nil }
func (discard) Publish(context.Context, ...facts.Event) error { return nil }

// benchPayload is a workflow_run delivery of about size bytes (real ones
// are 15-30 KB, mostly the head commit and repository objects).
func benchPayload(b *testing.B, size int) []byte {
	var m map[string]any
	if err := json.Unmarshal(workflowRun(b), &m); err != nil {
		b.Fatal(err)
	}
	run := m["workflow_run"].(map[string]any)
	run["head_commit"] = map[string]any{"message": strings.Repeat("x", size)}
	out, _ := json.Marshal(m)
	return out
}

// BenchmarkWebhook measures one accepted delivery end to end through the
// HTTP handler: rate limit, body read, HMAC, JSON parse and validation,
// request encoding and enqueue (to a discarding queue).
func BenchmarkWebhook(b *testing.B) {
	for _, size := range []int{1 << 10, 20 << 10, 100 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			in, err := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte(secret), Apply: pipeline.PortApplier{
				Queues: map[string]pipeline.Enqueuer{pipeline.QueueRequests: discard{}}, Replay: discard{}, Facts: discard{}},
				Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := httpapi.New(httpapi.Config{Ingress: in, RateLimit: httpapi.DefaultRateLimit * 1000000, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			body := benchPayload(b, size)
			sig := pipeline.Sign([]byte(secret), body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("X-GitHub-Delivery", "d-"+strconv.Itoa(i))
				r.Header.Set("X-GitHub-Event", "workflow_run")
				r.Header.Set("X-Hub-Signature-256", sig)
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, r)
				if rec.Code != 202 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkVerifySignature is the HMAC alone, for comparison.
func BenchmarkVerifySignature(b *testing.B) {
	body := benchPayload(b, 20<<10)
	sig := pipeline.Sign([]byte(secret), body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if !pipeline.VerifySignature([]byte(secret), body, sig) {
			b.Fatal("no")
		}
	}
}
