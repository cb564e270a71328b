package ghfake

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestChecker(t *testing.T) {
	c, err := NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	const disp = "/repos/acme/deploy/actions/workflows/cd.yml/dispatches"
	cases := []struct {
		method, path, query, body string
		ok                        bool
	}{
		{"POST", disp, "", `{"ref":"main"}`, true},
		{"POST", disp, "", `{"ref":"main","inputs":{"a":"b"},"return_run_details":true}`, true},
		{"POST", disp, "", `{"inputs":{"a":"b"}}`, false},      // ref required
		{"POST", disp, "", `{"ref":"main","input":{}}`, false}, // unknown key
		{"POST", disp, "", `{"ref":1}`, false},                 // wrong type
		{"POST", disp, "", ``, false},                          // body required
		{"DELETE", disp, "", ``, false},                        // not an operation we use
		{"GET", "/repos/acme/deploy/contents/.github/dispatching.yml", "", "", true},
		{"GET", "/repos/acme/deploy/contents/x", "ref=main", "", true},
		{"GET", "/repos/acme/deploy/contents/x", "bogus=1", "", false},
		{"GET", "/repos/acme/deploy/actions/workflows/cd.yml/runs", "event=workflow_dispatch&created=%3E%3D2026-01-01T00:00:00Z&per_page=100&branch=main", "", true},
		{"POST", "/app/installations/1/access_tokens", "", ``, true},
		{"POST", "/app/installations/1/access_tokens", "", `{}`, true},
		{"POST", "/app/installations/1/access_tokens", "", `null`, false},
		{"GET", "/repos/acme", "", "", false},
		{"POST", "/repos/acme/api/issues", "", `{"title":"t","body":"b"}`, true},
		{"POST", "/repos/acme/api/issues", "", `{"body":"b"}`, false},
	}
	for _, tc := range cases {
		q, _ := url.ParseQuery(tc.query)
		err := c.Check(tc.method, tc.path, q, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s %s?%s %s: err = %v, want ok=%v", tc.method, tc.path, tc.query, tc.body, err, tc.ok)
		}
	}
}

type recorder struct{ msgs []string }

func (r *recorder) Helper()                      {}
func (r *recorder) Errorf(f string, args ...any) { r.msgs = append(r.msgs, f) }

// TestServerRejects: unauthenticated, badly signed and off-spec requests
// are refused and reported.
func TestServerRejects(t *testing.T) {
	rec := &recorder{}
	s := New(WithT(rec))
	defer s.Close()
	s.AddRepo(Repo{FullName: "acme/api", Files: map[string]string{"dispatching.yml": "x"}})
	s.AddInstallation(1, "acme/api")
	do := func(method, p, auth, body string) int {
		req, _ := http.NewRequest(method, s.URL()+strings.TrimPrefix(p, "/"), strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-RateLimit-Limit") == "" {
			t.Errorf("%s %s: no rate-limit headers", method, p)
		}
		return resp.StatusCode
	}
	if st := do("GET", "/repos/acme/api/contents/dispatching.yml", "", ""); st != 401 {
		t.Errorf("no auth: %d", st)
	}
	if st := do("GET", "/repos/acme/api/contents/dispatching.yml", "token ghs_forged", ""); st != 401 {
		t.Errorf("forged token: %d", st)
	}
	if st := do("GET", "/app", "Bearer a.b.c", ""); st != 401 {
		t.Errorf("forged JWT: %d", st)
	}
	if len(rec.msgs) != 0 {
		t.Errorf("auth failures are not violations: %v", rec.msgs)
	}
	if st := do("PATCH", "/repos/acme/api", "", "{}"); st != 400 || len(rec.msgs) != 1 {
		t.Errorf("off-spec request: %d, reports %v", st, rec.msgs)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		ok   bool
	}{
		{"GET /repos/*/*/contents/**", "GET /repos/a/b/contents/.github/x.yml", true},
		{"GET /repos/*/*/contents/*", "GET /repos/a/b/contents/.github/x.yml", false},
		{"POST /repos/*/*/issues", "GET /repos/a/b/issues", false},
		{"* /app", "GET /app", true},
	} {
		if got := matchPattern(tc.p, tc.s); got != tc.ok {
			t.Errorf("matchPattern(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

// TestCheckResponse: 2xx answers are held to the documented status codes
// and to the shape of the documented body.
func TestCheckResponse(t *testing.T) {
	c, err := NewChecker()
	if err != nil {
		t.Fatal(err)
	}
	const disp = "/repos/acme/deploy/actions/workflows/cd.yml/dispatches"
	const runs = "/repos/acme/deploy/actions/workflows/cd.yml/runs"
	cases := []struct {
		method, path string
		status       int
		body         string
		ok           bool
	}{
		{"POST", disp, 204, ``, true},
		{"POST", disp, 200, `{"workflow_run_id":1,"run_url":"u","html_url":"h"}`, true},
		{"POST", disp, 200, `{"run_url":"u","html_url":"h"}`, false},                       // required field missing
		{"POST", disp, 200, `{"workflow_run_id":"1","run_url":"u","html_url":"h"}`, false}, // wrong type
		{"POST", disp, 201, ``, false},                                                     // undocumented code
		{"POST", disp, 422, `{"message":"x"}`, true},                                       // errors are not checked
		{"GET", runs, 200, `{"total_count":1,"workflow_runs":[{"id":5,"status":"queued"}]}`, true},
		{"GET", runs, 200, `{"total_count":1,"workflow_runs":[{"id":"5"}]}`, false},
		{"GET", runs, 200, `{"workflow_runs":[]}`, false},
		{"POST", "/app/installations/1/access_tokens", 201, `{"token":"t","expires_at":"2026-01-01T00:00:00Z"}`, true},
		{"POST", "/app/installations/1/access_tokens", 201, `{"token":"t"}`, false},
	}
	for _, tc := range cases {
		err := c.CheckResponse(tc.method, tc.path, tc.status, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s %s %d %s: err = %v, want ok=%v", tc.method, tc.path, tc.status, tc.body, err, tc.ok)
		}
	}
}
