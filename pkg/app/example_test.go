package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// examples/webhook/workflow_run.json, signed in Go, is accepted by serve's
// webhook ingress, and planned into the two dispatches its README promises.
// When openssl and curl are installed (always in CI), sign-and-send.sh
// does the same from the shell.
func TestExampleWebhookAccepted(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	srv := start(t, loadSettings(t, env(fake, filepath.Join(t.TempDir(), "d.db"), map[string]string{"CREATE_ISSUES": "false"})))
	if code, b := send(t, srv.URL, "workflow_run", "example-1", samplePayload(t, 0)); code != 202 || strings.TrimSpace(b) != `{"accepted":true}` {
		t.Fatalf("sample payload: %d %q", code, b)
	}
	store := srv.App.Store
	waitFor(t, "the sample's dispatches", func() bool { return len(fake.Dispatches()) == 2 && settled(t, store) },
		dumpState(t, fake, store, srv.Logs))

	_, errSSL := exec.LookPath("openssl")
	_, errCurl := exec.LookPath("curl")
	if errSSL != nil || errCurl != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("openssl and curl are needed to check sign-and-send.sh: %v %v", errSSL, errCurl)
		}
		t.Logf("sign-and-send.sh not checked: %v %v", errSSL, errCurl)
		return
	}
	script := filepath.Join(repoRoot, "examples", "webhook", "sign-and-send.sh")
	run := func(extra ...string) string {
		t.Helper()
		cmd := exec.Command("sh", script, filepath.Join(repoRoot, "examples", "webhook", "workflow_run.json"), srv.URL+"/webhooks/github")
		cmd.Env = append(os.Environ(), append([]string{"GITHUB_WEBHOOK_SECRET=" + secret}, extra...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sign-and-send.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run("DELIVERY_ID=script-1"); !strings.Contains(out, "HTTP 202") || !strings.Contains(out, `"accepted":true`) {
		t.Errorf("sign-and-send.sh: %s", out)
	}
	if out := run("DELIVERY_ID=script-1"); !strings.Contains(out, "HTTP 409") {
		t.Errorf("sign-and-send.sh, same delivery id: %s", out)
	}
	if out := run("EVENT=push"); !strings.Contains(out, "HTTP 202") || !strings.Contains(out, `"ignored":true`) {
		t.Errorf("sign-and-send.sh, push event: %s", out)
	}
	if out := run("GITHUB_WEBHOOK_SECRET=wrong"); !strings.Contains(out, "HTTP 401") {
		t.Errorf("sign-and-send.sh with another secret: %s", out)
	}
}
