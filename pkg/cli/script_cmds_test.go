package cli

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["unescape"] = cmdUnescape
	scriptCmds["busyport"] = cmdBusyPort
}

// cmdBusyPort listens on a free loopback port for the rest of the script
// and stores its address in an environment variable:
//
//	busyport ADDR
//	exitcode 1 dispatcher serve --addr $ADDR
func cmdBusyPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: busyport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	ts.Setenv(args[0], ln.Addr().String())
}

// cmdUnescape rewrites files written with Go string escapes (\x1b, \xff,
// \u202e) into the bytes they stand for, so scripts can hold hostile input
// (terminal escapes, invalid UTF-8) in readable form:
//
//	unescape evil.yml
func cmdUnescape(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: unescape FILE...")
	}
	for _, name := range args {
		file := ts.MkAbs(name)
		data, err := os.ReadFile(file)
		ts.Check(err)
		lines := strings.Split(string(data), "\n")
		for i, l := range lines {
			u, err := strconv.Unquote(`"` + strings.ReplaceAll(l, `"`, `\"`) + `"`)
			if err != nil {
				ts.Fatalf("unescape %s:%d: %v", name, i+1, err)
			}
			lines[i] = u
		}
		ts.Check(os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644))
	}
}
