package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPlanInterrupted: Ctrl-C while plan waits for GitHub ends it with exit
// status 130 and one line, as shells expect. The interruption is the
// context's cancellation with a *SignalError cause (what SignalContext does
// on SIGINT), sent once the fake GitHub holds the request: no timing.
func TestPlanInterrupted(t *testing.T) {
	srv, arrived := newHangServer()
	defer srv.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_API_URL": srv.URL, "GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY_FILE": keyFile}
	var out, errOut bytes.Buffer
	s := Streams{In: strings.NewReader(""), Out: &out, Err: &errOut, Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}

	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-arrived
		cancel(&SignalError{Signal: syscall.SIGINT})
	}()
	code := Main(ctx, []string{"dispatcher", "plan", "--repo", "acme/api", "--run", "42", "--timeout", "0"}, s, BuildInfo{})
	if code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", code, errOut.String())
	}
	if got := errOut.String(); got != "dispatcher: interrupted\n" {
		t.Errorf("stderr %q, want one line \"dispatcher: interrupted\"", got)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q, want nothing", out.String())
	}
}

func TestSignalErrorExitCode(t *testing.T) {
	if got := (&SignalError{Signal: syscall.SIGINT}).ExitCode(); got != 130 {
		t.Errorf("SIGINT exit code %d, want 130", got)
	}
	if got := (&SignalError{Signal: syscall.SIGTERM}).ExitCode(); got != 143 {
		t.Errorf("SIGTERM exit code %d, want 143", got)
	}
}

// TestSignalContextStop: stop cancels the context without a *SignalError
// cause, so a normal end is never reported as an interruption.
func TestSignalContextStop(t *testing.T) {
	ctx, stop := SignalContext(context.Background(), os.Interrupt)
	stop()
	stop()
	if ctx.Err() == nil {
		t.Fatal("context not cancelled by stop")
	}
	var se *SignalError
	if cause := context.Cause(ctx); cause == nil || errors.As(cause, &se) {
		t.Errorf("cause after stop = %v, want context.Canceled", cause)
	}
}
