package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/dispatching"
)

// runValidateIn runs "dispatcher validate ARGS" in-process in dir.
func runValidateIn(t *testing.T, dir string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	s := Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut, Getenv: func(string) (string, bool) { return "", false }}
	code = Main(context.Background(), append([]string{"dispatcher", "validate"}, args...), s, BuildInfo{})
	return code, out.String(), errOut.String()
}

func writeValidateFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func decodeJSONDiags(t *testing.T, s string) []jsonDiagnostic {
	t.Helper()
	var ds []jsonDiagnostic
	if err := json.Unmarshal([]byte(s), &ds); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, s)
	}
	return ds
}

func TestValidateFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	writeValidateFile(t, filepath.Join(dir, "big.yml"), []byte("outbound: []\n#"+strings.Repeat("x", 200_000)+"\n"))
	code, out, _ := runValidateIn(t, dir, "", "--format", "json", "big.yml")
	ds := decodeJSONDiags(t, out)
	if code != ExitProblems || len(ds) != 1 || ds[0].Rule != dispatching.RuleFileTooLarge {
		t.Fatalf("exit %d, %+v", code, ds)
	}
	// Only the limit plus one byte is read, but the message gives the
	// file's real size and the limit.
	if !strings.Contains(ds[0].Message, "(200015 bytes)") || !strings.Contains(ds[0].Message, "limit of 65536 bytes") {
		t.Errorf("message %q", ds[0].Message)
	}
}

func TestValidateEmptyFile(t *testing.T) {
	dir := t.TempDir()
	writeValidateFile(t, filepath.Join(dir, "dispatching.yml"), nil)
	code, out, errOut := runValidateIn(t, dir, "", "--format", "json")
	ds := decodeJSONDiags(t, out)
	if code != ExitOK || len(ds) != 1 || ds[0].Rule != dispatching.RuleEmptyFile || ds[0].Severity != "warning" {
		t.Fatalf("exit %d, %+v, %s", code, ds, errOut)
	}
	if code, _, _ := runValidateIn(t, dir, "", "--strict"); code != ExitProblems {
		t.Errorf("--strict with a warning: exit %d, want 1", code)
	}
}

func TestValidateSortsAndDeduplicates(t *testing.T) {
	dir := t.TempDir()
	writeValidateFile(t, filepath.Join(dir, "b", "dispatching.yml"), []byte("foo: 1\n"))
	writeValidateFile(t, filepath.Join(dir, "a.yml"), []byte("bar: 1\nouthound: []\n"))
	// b is named twice (as a directory and as a file): checked once.
	code, out, errOut := runValidateIn(t, dir, "", "--format", "json", "b", "a.yml", "b/dispatching.yml")
	ds := decodeJSONDiags(t, out)
	if code != ExitProblems {
		t.Fatalf("exit %d", code)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.File+":"+d.Rule+":"+strings.Fields(d.Message)[2])
	}
	want := []string{`a.yml:unknown-key:"bar"`, `a.yml:unknown-key:"outhound"`, `b/dispatching.yml:unknown-key:"foo"`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	if errOut != "" {
		t.Errorf("json format wrote to stderr: %q", errOut)
	}
	// The text summary counts files once.
	_, _, errOut = runValidateIn(t, dir, "", "b", "a.yml", "b/dispatching.yml")
	if strings.TrimSpace(errOut) != "3 errors, 0 warnings in 2 files" {
		t.Errorf("summary %q", errOut)
	}
}

func TestValidateStdinOnce(t *testing.T) {
	code, out, _ := runValidateIn(t, t.TempDir(), "outbound: 5\n", "--format", "json", "-", "-")
	ds := decodeJSONDiags(t, out)
	if code != ExitProblems || len(ds) != 1 || ds[0].File != "<stdin>" {
		t.Fatalf("exit %d %+v", code, ds)
	}
}

func TestValidateDirectoryIsAFile(t *testing.T) {
	dir := t.TempDir()
	// A directory named dispatching.yml is not a config file.
	if err := os.MkdirAll(filepath.Join(dir, "repo", "dispatching.yml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeValidateFile(t, filepath.Join(dir, "repo", ".github", "dispatching.yml"), []byte("outbound: []\n"))
	code, _, errOut := runValidateIn(t, dir, "", "repo")
	if code != ExitOK || !strings.Contains(errOut, "no problems in 1 file") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
