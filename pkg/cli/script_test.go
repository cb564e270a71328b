package cli

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// update rewrites golden files and testscript expectations instead of
// comparing with them: go test ./pkg/cli -update. Tests in this package use
// this flag; do not define another "update" flag here.
var update = flag.Bool("update", false, "rewrite golden files and testscript expectations")

// scriptCmds are extra testscript commands. Other test files add to it in
// init(), e.g.
//
//	func init() { scriptCmds["fakegithub"] = func(ts *testscript.TestScript, neg bool, args []string) { … } }
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"exitcode": cmdExitCode,
}

// cmdExitCode runs a program like exec and checks its exact exit status:
//
//	exitcode 2 dispatcher validate missing.yml
//
// stdout and stderr are kept for the following stdout/stderr/cmp commands,
// and a preceding "stdin FILE" applies.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// scriptSetups run before every script, in order; other test files append
// to it in init() to prepare the environment (fake servers, env vars).
var scriptSetups []func(*testscript.Env) error

// testTTYEnv makes the dispatcher binary run under testscript believe that
// stdout and stderr are terminals, so scripts can check colour handling.
// Only the test binary reads it.
const testTTYEnv = "DISPATCHER_TEST_TTY"

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"dispatcher": func() {
			s := System()
			if os.Getenv(testTTYEnv) == "1" {
				s.OutTTY, s.ErrTTY = true, true
			}
			info := BuildInfo{Version: "v0.0.0-test", Commit: "testcommit", Date: "2026-01-01T00:00:00Z"}
			ctx, stop := SignalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := Main(ctx, os.Args, s, info)
			stop()
			os.Exit(code)
		},
	})
}

// TestScripts runs testdata/script/*.txtar: the CLI's specified behaviour.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Cmds:                scriptCmds,
		Setup: func(env *testscript.Env) error {
			for _, setup := range scriptSetups {
				if err := setup(env); err != nil {
					return err
				}
			}
			return nil
		},
	})
}
