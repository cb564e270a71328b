package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// TestServeNeverLogsSecrets runs serve through accepted, rejected,
// retried, refused and re-authenticated work at the most verbose log level
// and checks that neither the logs nor the stored facts (nor the dead
// letters) contain the webhook secret, a valid signature, any line of the
// private key, an installation token or a JWT.
func TestServeNeverLogsSecrets(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "true", "LOG_LEVEL": "trace"}))
	srv := start(t, st)
	store := srv.App.Store

	// 1. A normal delivery (mints a token).
	if code, b := send(t, srv.URL, "workflow_run", "secrets-1", samplePayload(t, 1)); code != 202 {
		t.Fatalf("webhook 1: %d %s", code, b)
	}
	waitFor(t, "the first delivery", func() bool { return len(fake.Dispatches()) >= 2 && settled(t, store) },
		dumpState(t, fake, store, srv.Logs))
	// 2. Tokens revoked (401, a new token), a 500 and a refused dispatch.
	fake.RevokeTokens()
	fake.Fail("POST /repos/acme/deploy/actions/workflows/*/dispatches", ghfake.Fault{Status: 500, Message: "boom"})
	fake.Fail("POST /repos/acme/docs/actions/workflows/*/dispatches", ghfake.Fault{Status: 422, Message: "No ref found"})
	if code, b := send(t, srv.URL, "workflow_run", "secrets-2", samplePayload(t, 2)); code != 202 {
		t.Fatalf("webhook 2: %d %s", code, b)
	}
	waitFor(t, "the second delivery", func() bool {
		return len(fake.Dispatches()) >= 3 && len(dlq(t, store, app.TargetsQueue)) == 1 && settled(t, store)
	}, dumpState(t, fake, store, srv.Logs))
	// 3. Rejected webhooks: a wrong signature, a duplicate.
	if code, _ := sendSigned(t, srv.URL, "secrets-3", samplePayload(t, 3), "sha256="+strings.Repeat("0", 64)); code != 401 {
		t.Errorf("bad signature: %d, want 401", code)
	}
	if code, _ := send(t, srv.URL, "workflow_run", "secrets-1", samplePayload(t, 1)); code != 409 {
		t.Errorf("duplicate: %d, want 409", code)
	}
	srv.Stop()

	var stored strings.Builder
	evs, err := openStore(t, db).RecentEvents(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		stored.WriteString(e.Data.Error + "\n" + e.Data.Detail + "\n")
	}
	for _, m := range dlq(t, openStore(t, db), app.TargetsQueue) {
		stored.WriteString(m.LastError + "\n" + string(m.Body) + "\n")
	}

	forbidden := map[string]string{"webhook secret": secret}
	for i, body := range [][]byte{samplePayload(t, 1), samplePayload(t, 2)} {
		forbidden["signature "+string(rune('1'+i))] = signature(body)
	}
	for i, line := range strings.Split(string(fake.PrivateKeyPEM()), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			forbidden["private key line "+string(rune('0'+i%10))] = line
		}
	}
	tokens := fake.IssuedTokens()
	if len(tokens) < 2 {
		t.Fatalf("%d tokens issued, want at least 2 (the revocation forces a new one)", len(tokens))
	}
	for _, tok := range tokens {
		forbidden["installation token"] = tok
		check(t, srv.Logs.String(), stored.String(), forbidden)
	}
	for what, s := range map[string]string{"logs": srv.Logs.String(), "facts": stored.String()} {
		if strings.Contains(s, "eyJhbGciOi") {
			t.Errorf("%s contain a JWT", what)
		}
	}
}

func check(t *testing.T, logs, stored string, forbidden map[string]string) {
	t.Helper()
	for what, v := range forbidden {
		if strings.Contains(logs, v) {
			t.Errorf("the logs contain the %s", what)
		}
		if strings.Contains(stored, v) {
			t.Errorf("the stored facts or dead letters contain the %s", what)
		}
	}
}

func signature(body []byte) string { return pipeline.Sign([]byte(secret), body) }

// sendSigned posts a workflow_run webhook with the given signature.
func sendSigned(t testing.TB, url, delivery string, body []byte, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "workflow_run")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", sig)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
