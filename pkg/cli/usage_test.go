package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["usagekeygen"] = cmdUsageKeygen
}

// cmdUsageKeygen writes a fresh RSA private key (PEM) to the file named by
// its argument, for scripts that need serve to get past its credential
// checks without talking to GitHub:
//
//	usagekeygen $WORK/app.pem
func cmdUsageKeygen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: usagekeygen FILE")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	ts.Check(err)
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o600))
}

func TestUsageEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"format", "format", 0}, {"formt", "format", 1}, {"frmat", "format", 1},
		{"fromat", "format", 2}, {"world", "workflow", 4}, {"", "abc", 3}, {"abc", "", 3},
	} {
		if got := usageEditDistance(c.a, c.b); got != c.want {
			t.Errorf("usageEditDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestUsageDiagExcerpt(t *testing.T) {
	short := "outbound: []"
	if got, col := diagExcerpt(short, 3); got != short || col != 3 {
		t.Errorf("short line changed: %q %d", got, col)
	}
	long := make([]rune, 1000)
	for i := range long {
		long[i] = 'a' + rune(i%26)
	}
	// Near the start: the head of the line, cut at the end.
	got, col := diagExcerpt(string(long), 5)
	if r := []rune(got); len(r) != diagExcerptWidth+1 || r[len(r)-1] != '…' || col != 5 {
		t.Errorf("start: %d runes, col %d: %q", len(r), col, got)
	}
	// Far in: a window around the column, cut on both sides, and the
	// column moved so that it still points at the same character.
	got, col = diagExcerpt(string(long), 600)
	r := []rune(got)
	if r[0] != '…' || r[len(r)-1] != '…' || len(r) > diagExcerptWidth+2 {
		t.Fatalf("middle: %q", got)
	}
	if r[col-1] != long[599] {
		t.Errorf("middle: column %d points at %q, want %q", col, r[col-1], long[599])
	}
	// At the very end: no trailing ellipsis.
	got, col = diagExcerpt(string(long), 1000)
	if r := []rune(got); r[len(r)-1] == '…' || r[col-1] != long[999] {
		t.Errorf("end: %q col %d", got, col)
	}
}
