package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/cli"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
)

// execEnv makes the test binary behave as the dispatcher binary (see
// TestMain), so that a test can run "dispatcher serve" as a real process
// and SIGKILL it.
const execEnv = "DISPATCHER_APP_TEST_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		// What cmd/dispatcher's main does.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args, cli.System(), cli.BuildInfo{Version: "v1.2.3-test", Commit: "abc", Date: "2026-01-01"})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// proc is a "dispatcher serve" subprocess.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	URL    string
	exited chan error
}

func startProc(t *testing.T, e map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--addr", "127.0.0.1:0")
	cmd.Env = []string{execEnv + "=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		p.exited <- nil
	})
	waitFor(t, "the startup line", func() bool {
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "dispatcher serving" {
				p.URL = fmt.Sprint("http://", m["addr"])
				return true
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("serve exited: %v\n%s", err, p.stderr.String())
		default:
		}
		return false
	}, func() string { return p.stderr.String() })
	return p
}

// The real binary is killed with SIGKILL while GitHub holds the answer to a
// dispatch it already applied (and the other target's item holds its claim,
// waiting to POST). Started again on the same file, it finishes the work:
// each authorised target dispatched exactly once. Then SIGTERM shuts it
// down cleanly (exit 0).
func TestServeSurvivesKill9(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	// The first dispatch is applied, then its answer hangs.
	fake.Fail(dispatchPath, ghfake.Fault{After: true, Latency: 2 * time.Second})
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	e := env(fake, db, map[string]string{"QUEUE_VISIBILITY_TIMEOUT": "1s", "CREATE_ISSUES": "false"})

	p1 := startProc(t, e)
	if code, b := send(t, p1.URL, "workflow_run", "kill-1", payloadFor(t, 8001)); code != 202 {
		t.Fatalf("%d %s", code, b)
	}
	waitFor(t, "the first dispatch to reach GitHub", func() bool { return len(fake.Dispatches()) >= 1 }, p1.stderr.String)
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p1.exited
	p1.exited <- nil
	if n := len(fake.Dispatches()); n != 1 {
		t.Fatalf("%d dispatches when killed, want 1", n)
	}

	// Restart once the claims' lease (twice the 1s visibility timeout) is
	// over, as a supervisor's restart delay would; restarting sooner is
	// also safe, but the young claims then wait for a retry (10s, 20s…).
	time.Sleep(2 * time.Second)
	p2 := startProc(t, e)
	store := openStore(t, db)
	waitFor(t, "both targets dispatched and the queues empty", func() bool {
		return summary(t, store).TriggerSucceeded == 2 && settled(t, store)
	}, func() string { return dumpState(t, fake, store, nil)() + p2.stderr.String() })
	checkExactlyOnce(t, fake, store, []int64{8001})
	if n := len(fake.Dispatches()); n != 2 {
		t.Errorf("%d dispatches, want 2", n)
	}

	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p2.exited; err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, p2.stderr.String())
	}
	p2.exited <- nil
	if !strings.Contains(p2.stderr.String(), `"msg":"dispatcher stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", p2.stderr.String())
	}
}
