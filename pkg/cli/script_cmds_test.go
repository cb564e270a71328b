package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["unescape"] = cmdUnescape
	scriptCmds["busyport"] = cmdBusyPort
	scriptCmds["badkey"] = cmdBadKey
	scriptCmds["hangserver"] = cmdHangServer
	scriptCmds["unescape-env"] = cmdUnescapeEnv
}

// cmdUnescapeEnv replaces Go string escapes in environment variables with
// the bytes they stand for:
//
//	env REF=main\x1b[2J
//	unescape-env REF
func cmdUnescapeEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: unescape-env VAR...")
	}
	for _, name := range args {
		u, err := strconv.Unquote(`"` + strings.ReplaceAll(ts.Getenv(name), `"`, `\"`) + `"`)
		if err != nil {
			ts.Fatalf("unescape-env %s: %v", name, err)
		}
		ts.Setenv(name, u)
	}
}

// cmdHangServer starts an HTTP server that never answers (each request
// waits until the script ends) and stores its URL in an environment
// variable:
//
//	hangserver GITHUB_API_URL
func cmdHangServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hangserver VAR")
	}
	srv, _ := newHangServer()
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

// hangServer never answers: each request waits until the client gives up
// or the server is closed. arrived receives once per request, when it is
// being held.
type hangServer struct {
	*httptest.Server
	release chan struct{}
}

func newHangServer() (*hangServer, <-chan struct{}) {
	arrived := make(chan struct{}, 16)
	h := &hangServer{release: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-h.release:
		}
	}))
	return h, arrived
}

// Close releases every held request and stops the server.
func (h *hangServer) Close() {
	close(h.release)
	h.Server.Close()
}

// cmdBadKey writes a private key GitHub Apps cannot use, of one kind:
//
//	badkey ed25519 FILE   an Ed25519 key in PKCS#8 PEM
//	badkey der FILE       an RSA key in binary DER
//	badkey flat FILE      an RSA PEM whose line breaks became spaces
func cmdBadKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: badkey ed25519|der|flat FILE")
	}
	var data []byte
	switch args[0] {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		ts.Check(err)
		der, err := x509.MarshalPKCS8PrivateKey(k)
		ts.Check(err)
		data = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	case "der", "flat":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		ts.Check(err)
		data = x509.MarshalPKCS1PrivateKey(k)
		if args[0] == "flat" {
			data = []byte(strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: data})), "\n", " "))
		}
	default:
		ts.Fatalf("badkey: unknown kind %q", args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), data, 0o600))
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
