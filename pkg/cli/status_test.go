package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// adminStore writes a store with one delivery: two targets queued, one
// denied, one succeeded, one failed at GitHub, and a dead letter.
func adminStore(t *testing.T) (string, *local.Store) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	store, err := local.Open(context.Background(), db, local.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d := facts.Data{DeliveryID: "dlv-7", SourceRepo: "acme/api", SourceWorkflow: "ci.yml", SourceRunID: 42, RunAttempt: 1}
	tgt := func(repo string, f func(*facts.Data)) facts.Data {
		x := d
		x.TargetRepo, x.TargetWorkflow, x.Ref = repo, "cd.yml", "main"
		if f != nil {
			f(&x)
		}
		return x
	}
	yes, three, two, one := true, 3, 2, 1
	plan := d
	plan.Eligible, plan.Candidates, plan.Allowed, plan.Denied = &yes, &three, &two, &one
	evs := []facts.Event{
		facts.New(facts.TypeRequestAccepted, now.Add(-10*time.Second), d),
		facts.New(facts.TypePlanCreated, now.Add(-9*time.Second), plan),
		facts.New(facts.TypeTargetDenied, now.Add(-9*time.Second), tgt("acme/infra", func(x *facts.Data) {
			x.Reason, x.Detail = "inbound_not_authorized", "no inbound rule in acme/infra/dispatching.yml names source acme/api ci.yml"
		})),
		facts.New(facts.TypeTargetQueued, now.Add(-8*time.Second), tgt("acme/deploy", nil)),
		facts.New(facts.TypeTargetQueued, now.Add(-8*time.Second), tgt("acme/docs", nil)),
		facts.New(facts.TypeTriggerSucceeded, now.Add(-6*time.Second), tgt("acme/deploy", func(x *facts.Data) {
			x.Attempts, x.TargetRunID, x.TargetRunURL = 1, 9001, "https://github.com/acme/deploy/actions/runs/9001"
		})),
		facts.New(facts.TypeTriggerFailed, now.Add(-5*time.Second), tgt("acme/docs", func(x *facts.Data) {
			x.Attempts, x.Error = 1, "Workflow does not have 'workflow_dispatch' trigger"
		})),
	}
	if err := store.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Fold(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := store.Queue("targets").DLQ().Enqueue(context.Background(), "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	return db, store
}

func runAdminCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := Streams{In: bytes.NewReader(nil), Out: &out, Err: &errOut,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	code = Main(context.Background(), append([]string{"dispatcher"}, args...), s, BuildInfo{})
	return code, out.String(), errOut.String()
}

// adminServer serves the admin API over store, protected by token.
func adminServer(t *testing.T, store *local.Store, token string) string {
	t.Helper()
	in, err := pipeline.NewIngress(pipeline.IngressConfig{Secret: []byte("s"), Apply: pipeline.PortApplier{}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Ingress: in, Admin: &httpapi.AdminConfig{
		Reader: store.AdminView("requests", "targets"), Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	srv.ListeningOn(&net.TCPAddr{IP: net.IPv4(203, 0, 113, 1)}) // public: the token is required
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestStatusAndTrace(t *testing.T) {
	db, store := adminStore(t)
	const token = "tok-0123456789"
	url := adminServer(t, store, token)
	local := map[string]string{"DISPATCHER_DB": db}
	remote := map[string]string{"ADMIN_TOKEN": token}

	for name, c := range map[string]struct {
		env  map[string]string
		args []string
	}{"store": {local, nil}, "url": {remote, []string{"--url", url}}} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runAdminCLI(t, c.env, append([]string{"status"}, c.args...)...)
			if code != 0 {
				t.Fatalf("status: %d %s", code, errOut)
			}
			for _, want := range []string{
				"Status: red", "Trigger success rate: 50%", "FAIL  Trigger success rate", "WARN  Dead-letter queues",
				"1 requests accepted, 1 plans, 2 targets queued, 1 denied, 1 triggers succeeded, 1 failed",
				"targets   0        0          1", "dispatcher replay-dlq",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("status lacks %q:\n%s", want, out)
				}
			}
			code, out, errOut = runAdminCLI(t, c.env, append([]string{"status", "--format", "json"}, c.args...)...)
			if code != 0 {
				t.Fatalf("status json: %d %s", code, errOut)
			}
			var r statusReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if r.Health.Status != facts.StatusRed || r.Summary.TriggerFailed != 1 || len(r.Health.Queues) != 2 || r.Health.Queues[1].DeadLetters != 1 {
				t.Errorf("status json: %+v", r)
			}

			code, out, errOut = runAdminCLI(t, c.env, append([]string{"trace", "dlv-7"}, c.args...)...)
			if code != 0 {
				t.Fatalf("trace: %d %s", code, errOut)
			}
			for _, want := range []string{
				"Delivery dlv-7: partial", "source:  acme/api ci.yml run 42",
				"acme/infra cd.yml @ main", "denied", "inbound_not_authorized", "no inbound rule in acme/infra/dispatching.yml",
				"https://github.com/acme/deploy/actions/runs/9001", "Workflow does not have 'workflow_dispatch' trigger",
				"plan.created", "eligible: 3 candidates, 2 to dispatch, 1 denied",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("trace lacks %q:\n%s", want, out)
				}
			}
			code, out, _ = runAdminCLI(t, c.env, append([]string{"trace", "dlv-7", "--format", "json"}, c.args...)...)
			var b httpapi.DeliveryBody
			if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil || len(b.Journey) != 7 || len(b.Targets) != 3 {
				t.Errorf("trace json: %d %v %+v", code, err, b)
			}
			code, out, errOut = runAdminCLI(t, c.env, append([]string{"trace", "nope"}, c.args...)...)
			if code != 0 || out != "" || !strings.Contains(errOut, "no fact recorded for delivery nope") {
				t.Errorf("unknown delivery: %d %q %q", code, out, errOut)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			env  map[string]string
			args []string
			code int
			msg  string
		}{
			{nil, []string{"status", "--url", url}, 1, "set ADMIN_TOKEN"},
			{map[string]string{"ADMIN_TOKEN": "wrong"}, []string{"trace", "x", "--url", url}, 1, "refused ADMIN_TOKEN"},
			{nil, []string{"status", "--url", "ftp://x"}, 2, "expected http(s)"},
			{nil, []string{"status", "--url", url, "--db", db}, 2, "cannot be used together"},
			{local, []string{"status", "--format", "yaml"}, 2, "unknown format"},
			{nil, []string{"status", "--db", filepath.Join(t.TempDir(), "none.db")}, 2, "no store at"},
			{local, []string{"trace"}, 2, "DELIVERY_ID"},
		} {
			code, _, errOut := runAdminCLI(t, c.env, c.args...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Errorf("%v: %d %q, want %d with %q", c.args, code, errOut, c.code, c.msg)
			}
			if strings.Contains(errOut, token) {
				t.Errorf("%v: the token is in the error", c.args)
			}
		}
	})
}
