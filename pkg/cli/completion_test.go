package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestCompletionsUpToDate fails when completions/ no longer matches what
// "dispatcher completion SHELL" prints; run "make completions" (or this
// test with -update) to regenerate.
func TestCompletionsUpToDate(t *testing.T) {
	for shell, file := range map[string]string{
		"bash":       "dispatcher.bash",
		"zsh":        "dispatcher.zsh",
		"fish":       "dispatcher.fish",
		"powershell": "dispatcher.ps1",
	} {
		t.Run(shell, func(t *testing.T) {
			var out, errOut bytes.Buffer
			s := Streams{In: bytes.NewReader(nil), Out: &out, Err: &errOut}
			if code := Main(context.Background(), []string{"dispatcher", "completion", shell}, s, BuildInfo{}); code != ExitOK {
				t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
			}
			if out.Len() == 0 {
				t.Fatalf("completion %s printed nothing", shell)
			}
			path := filepath.Join("..", "..", "completions", file)
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			committed, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: run make completions", err)
			}
			if !bytes.Equal(committed, out.Bytes()) {
				t.Errorf("%s is stale: run make completions and commit the result", path)
			}
		})
	}
}
