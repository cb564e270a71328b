package cli

import (
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["unescape"] = cmdUnescape
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
