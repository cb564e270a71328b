package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
)

// adminPaths are every admin route, for the access and leak tests.
var adminPaths = []string{
	"/admin", "/admin/", "/admin/assets/app.js", "/admin/api/health", "/admin/projections?minutes=15",
	"/admin/api/repos", "/admin/api/recent-events", "/admin/api/journey?deliveryId=d-1",
	"/admin/api/deliveries/d-1", "/admin/api/version", "/metrics",
}

// dataPaths need the token; the page and its assets hold no data.
func needsToken(p string) bool {
	return p == "/metrics" || strings.HasPrefix(p, "/admin/api/") || strings.HasPrefix(p, "/admin/projections")
}

func withToken(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func from(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }

func TestAdminToken(t *testing.T) {
	e := newAdminEnv(t, func(c *httpapi.Config) { c.Admin.Token = adminToken })
	for _, p := range adminPaths {
		code, b, h := e.get(t, p, nil)
		if needsToken(p) {
			if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s without token: %d %s", p, code, b)
			}
			for _, bad := range []func(*http.Request){
				withToken("wrong"), withToken(adminToken + "x"), withToken(adminToken[:len(adminToken)-1]),
				func(r *http.Request) { r.Header.Set("Authorization", "Basic "+adminToken) },
				func(r *http.Request) { r.Header.Set("Authorization", adminToken) },
			} {
				if code, b, _ := e.get(t, p, bad); code != 401 {
					t.Errorf("%s with a bad token: %d %s", p, code, b)
				}
			}
		} else if code != 200 {
			t.Errorf("%s (no data) without token: %d", p, code)
		}
		if code, b, _ := e.get(t, p, withToken(adminToken)); code != 200 {
			t.Errorf("%s with the token: %d %s", p, code, b)
		}
		// The token works from anywhere (no allowlist), loopback or not.
		if code, _, _ := e.get(t, p, func(r *http.Request) { withToken(adminToken)(r); from("198.51.100.7:1")(r) }); code != 200 {
			t.Errorf("%s with the token from a public address: %d", p, code)
		}
	}
	if !strings.Contains(e.logs.String(), `"reason":"token_invalid"`) || !strings.Contains(e.logs.String(), `"reason":"token_missing"`) {
		t.Errorf("denials not logged with their reason:\n%s", e.logs)
	}
}

func TestAdminIPAllowlist(t *testing.T) {
	e := newAdminEnv(t, func(c *httpapi.Config) {
		c.Admin.Allowlist = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::7/128")}
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}
	})
	cases := []struct {
		name string
		edit func(*http.Request)
		want int
	}{
		{"inside the CIDR", from("10.1.2.3:5"), 200},
		{"listed IPv6", from("[2001:db8::7]:5"), 200},
		{"loopback is not listed", from("127.0.0.1:5"), 403},
		{"outside", from("198.51.100.7:5"), 403},
		{"through the trusted proxy", func(r *http.Request) { from("192.0.2.1:5")(r); r.Header.Set("X-Forwarded-For", "10.9.9.9") }, 200},
		{"proxy forwarding an outsider", func(r *http.Request) {
			from("192.0.2.1:5")(r)
			r.Header.Set("X-Forwarded-For", "10.9.9.9, 198.51.100.7")
		}, 403},
		{"forged header from an untrusted peer", func(r *http.Request) { from("198.51.100.7:5")(r); r.Header.Set("X-Forwarded-For", "10.9.9.9") }, 403},
	}
	for _, c := range cases {
		for _, p := range adminPaths {
			if code, b, _ := e.get(t, p, c.edit); code != c.want {
				t.Errorf("%s %s: %d, want %d (%s)", c.name, p, code, c.want, b)
			}
		}
	}
	if !strings.Contains(e.logs.String(), `"reason":"ip_not_allowed"`) {
		t.Errorf("denial not logged:\n%s", e.logs)
	}
}

// Token and allowlist together: both must pass.
func TestAdminTokenAndAllowlist(t *testing.T) {
	e := newAdminEnv(t, func(c *httpapi.Config) {
		c.Admin.Token = adminToken
		c.Admin.Allowlist = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	if code, _, _ := e.get(t, "/admin/api/health", func(r *http.Request) { from("10.0.0.1:1")(r); withToken(adminToken)(r) }); code != 200 {
		t.Errorf("both: %d", code)
	}
	if code, _, _ := e.get(t, "/admin/api/health", from("10.0.0.1:1")); code != 401 {
		t.Errorf("allowed address without token: %d", code)
	}
	if code, _, _ := e.get(t, "/admin/api/health", func(r *http.Request) { from("11.0.0.1:1")(r); withToken(adminToken)(r) }); code != 403 {
		t.Errorf("token from outside the allowlist: %d", code)
	}
}

// With neither token nor allowlist, admin is served only when the server
// listens on loopback; on any other address (or before ListeningOn, as on
// AWS) it answers 403, and startup logs why.
func TestAdminFailClosed(t *testing.T) {
	for _, c := range []struct {
		name   string
		addr   net.Addr // nil: ListeningOn never called
		want   int
		logged string
	}{
		{"loopback v4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3000}, 200, "admin open without authentication"},
		{"loopback v6", &net.TCPAddr{IP: net.IPv6loopback, Port: 3000}, 200, "admin open without authentication"},
		{"all interfaces", &net.TCPAddr{IP: net.IPv4zero, Port: 3000}, 403, "admin disabled"},
		{"public address", &net.TCPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 80}, 403, "admin disabled"},
		{"never told (AWS)", nil, 403, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := newAdminEnv(t, nil)
			e := newAdminEnvOn(t, base.store.AdminView("requests", "targets"), base.store, nil)
			if c.addr != nil {
				e.srv.ListeningOn(c.addr)
			}
			if c.logged != "" && !strings.Contains(e.logs.String(), c.logged) {
				t.Errorf("startup log lacks %q:\n%s", c.logged, e.logs)
			}
			for _, p := range adminPaths {
				if code, b, _ := e.get(t, p, nil); code != c.want {
					t.Errorf("%s: %d, want %d (%s)", p, code, c.want, b)
				}
			}
			// The webhook and /health are not admin.
			if code, _, _ := e.get(t, "/health", nil); code != 200 {
				t.Errorf("/health: %d", code)
			}
		})
	}
}

// No admin answer contains a secret, a token or a key, whatever the facts
// say: a fact carrying secret text (an error message quoting one) is
// redacted.
func TestAdminNoSecretInAnyBody(t *testing.T) {
	e := newAdminEnv(t, func(c *httpapi.Config) { c.Admin.Token = adminToken })
	leak := facts.New(facts.TypeTriggerFailed, at(12, 11, 0), facts.Data{DeliveryID: "d-1", SourceRepo: "acme/api",
		SourceWorkflow: "ci.yml", TargetRepo: "acme/leak", TargetWorkflow: "x.yml",
		Error: "echoed " + secret + " and " + adminToken + " and MIIEowIBAAKCAQEAsecretkeymaterial"})
	if err := e.store.Publish(context.Background(), leak); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Fold(context.Background()); err != nil {
		t.Fatal(err)
	}
	forbidden := []string{secret, adminToken, "MIIEowIBAAKCAQEAsecretkeymaterial", "PRIVATE KEY", "signature", "sha256="}
	for _, p := range adminPaths {
		code, b, h := e.get(t, p, withToken(adminToken))
		if code != 200 {
			t.Errorf("%s: %d", p, code)
		}
		all := string(b)
		for k, v := range h {
			all += k + ": " + strings.Join(v, ",") + "\n"
		}
		for _, f := range forbidden {
			if strings.Contains(strings.ToLower(all), strings.ToLower(f)) {
				t.Errorf("%s contains %q", p, f)
			}
		}
	}
	if _, b, _ := e.get(t, "/admin/api/recent-events", withToken(adminToken)); !strings.Contains(string(b), "[redacted]") {
		t.Errorf("the leaking fact was not redacted: %s", b)
	}
}

// fakeReader answers from fields, for the cases a store cannot produce
// (a fold lag, read errors).
type fakeReader struct {
	httpapi.AdminReader
	lag facts.FoldLag
	err error
}

func (f fakeReader) FoldLag(context.Context) (facts.FoldLag, error) { return f.lag, f.err }

func TestAdminFoldLagAndReadErrors(t *testing.T) {
	base := newAdminEnv(t, nil)
	e := newAdminEnvOn(t, fakeReader{AdminReader: base.store.AdminView("requests", "targets"),
		lag: facts.FoldLag{Pending: 42, Oldest: 301 * time.Second}}, base.store, nil)
	e.srv.ListeningOn(loopback)
	_, b, _ := e.get(t, "/admin/api/health", nil)
	h := decode[httpapi.HealthBody](t, b)
	c := h.Checks[len(h.Checks)-1]
	if c.ID != facts.CheckFoldLag || c.Status != facts.StatusRed || h.FoldLag != (httpapi.FoldLagBody{Pending: 42, OldestSeconds: 301}) {
		t.Errorf("fold lag: %+v %+v", c, h.FoldLag)
	}
	_, b, _ = e.get(t, "/metrics", nil)
	for _, want := range []string{"dispatcher_projection_fold_lag_facts 42\n", "dispatcher_projection_fold_lag_seconds 301\n",
		"dispatcher_health_check_status{check=\"projection_fold_lag\"} 3\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	e = newAdminEnvOn(t, fakeReader{AdminReader: base.store.AdminView("requests", "targets"),
		err: errors.New("table /secret/path unreadable")}, base.store, nil)
	e.srv.ListeningOn(loopback)
	for _, p := range []string{"/admin/api/health", "/admin/projections", "/metrics"} {
		code, b, _ := e.get(t, p, nil)
		if code != 500 || strings.Contains(string(b), "/secret/path") {
			t.Errorf("%s on a read error: %d %s", p, code, b)
		}
	}
	if !strings.Contains(e.logs.String(), "/secret/path") {
		t.Errorf("the read error is not logged")
	}
}

// The standalone handler (AWS admin Lambda) is fail-closed and says so.
func TestNewAdminHandler(t *testing.T) {
	base := newAdminEnv(t, nil)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h, err := httpapi.NewAdminHandler(httpapi.AdminConfig{Reader: base.store.AdminView("requests")}, httpapi.BuildInfo{}, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/admin/api/health", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 || !strings.Contains(logs.String(), "admin disabled") {
		t.Errorf("without token or allowlist: %d, log %q", w.Code, logs.String())
	}
	h, err = httpapi.NewAdminHandler(httpapi.AdminConfig{Reader: base.store.AdminView("requests"), Token: adminToken}, httpapi.BuildInfo{}, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+adminToken)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("with the token: %d %s", w.Code, w.Body)
	}
	if _, err := httpapi.NewAdminHandler(httpapi.AdminConfig{}, httpapi.BuildInfo{}, nil, nil, nil); err == nil {
		t.Error("no reader accepted")
	}
}

type noQueues struct{ httpapi.AdminReader }

func (noQueues) Queues(context.Context) ([]facts.QueueDepth, error) { return nil, nil }

// A runtime that cannot report queues gets no queue checks (and so no
// "idle" verdict built on an empty list), and the body still has [].
func TestAdminHealthWithoutQueues(t *testing.T) {
	base := newAdminEnv(t, nil)
	e := newAdminEnvOn(t, noQueues{base.store.AdminView("requests", "targets")}, base.store, nil)
	e.srv.ListeningOn(loopback)
	_, b, _ := e.get(t, "/admin/api/health", nil)
	h := decode[httpapi.HealthBody](t, b)
	for _, c := range h.Checks {
		if c.ID == facts.CheckQueueBacklog || c.ID == facts.CheckDeadLetters {
			t.Errorf("queue check %s without queue depths", c.ID)
		}
	}
	if h.Queues == nil || !strings.Contains(string(b), `"queues":[]`) {
		t.Errorf("queues: %s", b)
	}
}
