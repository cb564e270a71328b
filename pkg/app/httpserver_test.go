package app_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// TestServeRejectsOversizedHeaders: request headers over the server's
// limit (64 KiB, far above any webhook's) are refused with 431 before the
// handler runs; net/http's default would accept a megabyte.
func TestServeRejectsOversizedHeaders(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	srv := start(t, loadSettings(t, env(fake, filepath.Join(t.TempDir(), "dispatcher.db"), nil)))
	body := samplePayload(t, 0)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", "big-headers")
	req.Header.Set("X-Hub-Signature-256", pipeline.Sign([]byte(secret), body))
	req.Header.Set("X-Padding", strings.Repeat("p", 128<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", res.StatusCode)
	}
	// A normal delivery still goes through.
	if code, b := send(t, srv.URL, "workflow_run", "normal", body); code != http.StatusAccepted {
		t.Fatalf("normal webhook: %d %s", code, b)
	}
}

// TestServeCutsOffSlowBody: a client that sends the headers and part of
// the body and then stalls (slow loris) has its connection closed by the
// read timeout, and nothing is enqueued. The test shortens the timeout;
// its own deadline only keeps a broken server from hanging the test.
func TestServeCutsOffSlowBody(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	srv := start(t, loadSettings(t, env(fake, filepath.Join(t.TempDir(), "dispatcher.db"), nil)),
		app.WithHTTPTimeouts(app.HTTPTimeouts{ReadHeader: 100 * time.Millisecond, Read: 200 * time.Millisecond}))
	body := samplePayload(t, 0)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: dispatcher\r\nContent-Type: application/json\r\n"+
		"X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: slow-loris\r\nX-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n",
		pipeline.Sign([]byte(secret), body), len(body))
	if _, err := conn.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	// Stall: send nothing more. The server must end the exchange.
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(bufio.NewReader(conn))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a stalled request open (read so far: %q)", got)
	}
	if bytes.Contains(got, []byte(" 202 ")) {
		t.Fatalf("a half-sent body was accepted: %q", got)
	}
	if code, b := send(t, srv.URL, "workflow_run", "slow-loris", body); code != http.StatusAccepted {
		t.Fatalf("the delivery, sent in full: %d %s (want 202: the cut-off attempt recorded nothing)", code, b)
	}
}
