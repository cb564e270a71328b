package app

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// TestHTTPServerTimeouts: serve's server has every timeout and a header
// limit, and its write timeout leaves a request that used its whole read
// time at least 30 s for the handler and the answer, so a slow but
// legitimate delivery is never cut off while answering.
func TestHTTPServerTimeouts(t *testing.T) {
	hs := newHTTPServer(context.Background(), http.NotFoundHandler(), slog.Default(), HTTPTimeouts{})
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v, read %v, write %v, idle %v; want all set",
			hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	if hs.ReadHeaderTimeout > hs.ReadTimeout || hs.WriteTimeout < hs.ReadTimeout+30*time.Second {
		t.Errorf("header %v, read %v, write %v: want header ≤ read and write ≥ read + 30s",
			hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout)
	}
	if hs.MaxHeaderBytes != MaxHeaderBytes || MaxHeaderBytes >= http.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes %d, want %d (below net/http's default)", hs.MaxHeaderBytes, MaxHeaderBytes)
	}
	hs = newHTTPServer(context.Background(), http.NotFoundHandler(), slog.Default(), HTTPTimeouts{Write: time.Second})
	if hs.WriteTimeout != time.Second || hs.ReadTimeout != DefaultHTTPTimeouts.Read {
		t.Errorf("override: write %v read %v, want 1s and the default", hs.WriteTimeout, hs.ReadTimeout)
	}
}
