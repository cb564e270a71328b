package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// AdminConfig configures the admin routes (GET /admin, /admin/api/*,
// /admin/projections and /metrics). Leave Config.Admin nil to serve none.
type AdminConfig struct {
	// Reader is the read side; required.
	Reader AdminReader
	// Token is ADMIN_TOKEN: when set, the API and /metrics need
	// "Authorization: Bearer <Token>" (compared in constant time).
	Token string
	// Allowlist is ADMIN_IP_ALLOWLIST: when set, only clients whose
	// address (through Config.TrustedProxies) is in it reach admin.
	Allowlist []netip.Prefix
	// AppVersion (APP_VERSION) and ImageSHA (APP_IMAGE_SHA) describe the
	// deployment; they are reported beside the build.
	AppVersion string
	ImageSHA   string
	// Secrets are values that no admin response may contain (webhook
	// secret, private key, token). A response that would contain one has it
	// replaced by "[redacted]"; nothing should ever put one there, this is
	// the last line of defence.
	Secrets []string
	// LatencyWindow is the window of the dashboard's latency cards
	// (24 hours when 0).
	LatencyWindow time.Duration
}

// Limits of the admin lists (the original's).
const (
	adminRecentDeliveries = 20
	adminRecentFailures   = 20
	adminRecentEvents     = 50
	adminTopRepos         = 10
	adminTrendHours       = 24
)

//go:embed dashboard
var dashboardFS embed.FS

// admin serves the admin routes.
type admin struct {
	c       AdminConfig
	build   BuildInfo
	trusted []netip.Prefix
	now     func() time.Time
	log     *slog.Logger
	mux     *http.ServeMux
	// open is true when neither a token nor an allowlist is set and serve
	// listens on loopback only (see Server.ListeningOn).
	open      atomic.Bool
	tokenHash [32]byte
	secrets   [][]byte
}

func newAdmin(c AdminConfig, build BuildInfo, trusted []netip.Prefix, now func() time.Time, log *slog.Logger) (*admin, error) {
	if c.Reader == nil {
		return nil, errors.New("admin: a reader is required")
	}
	if c.LatencyWindow <= 0 {
		c.LatencyWindow = 24 * time.Hour
	}
	a := &admin{c: c, build: build, trusted: trusted, now: now, log: log, mux: http.NewServeMux()}
	a.tokenHash = sha256.Sum256([]byte(c.Token))
	for _, s := range append(slices.Clone(c.Secrets), c.Token) {
		if len(s) < 4 { // too short to search for without false hits
			continue
		}
		a.secrets = append(a.secrets, []byte(s))
		if q, err := json.Marshal(s); err == nil { // its JSON-escaped form
			a.secrets = append(a.secrets, q[1:len(q)-1])
		}
		for _, line := range strings.Split(s, "\n") { // e.g. the lines of a PEM key
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				a.secrets = append(a.secrets, []byte(line))
			}
		}
	}
	page := a.guard(false, a.dashboard)
	a.mux.HandleFunc("GET /admin", page)
	a.mux.HandleFunc("GET /admin/{$}", page)
	for name, ctype := range map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"} {
		b, err := dashboardFS.ReadFile("dashboard/" + name)
		if err != nil {
			return nil, fmt.Errorf("admin: dashboard asset %s: %w", name, err)
		}
		a.mux.HandleFunc("GET /admin/assets/"+name, a.guard(false, func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			securityHeaders(h)
			h.Set("Content-Type", ctype)
			h.Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			w.Write(b)
		}))
	}
	api := func(pattern string, h http.HandlerFunc) { a.mux.HandleFunc("GET "+pattern, a.guard(true, h)) }
	api("/admin/api/health", a.health)
	api("/admin/projections", a.projections)
	api("/admin/api/repos", a.repos)
	api("/admin/api/recent-events", a.recentEvents)
	api("/admin/api/journey", a.journey)
	api("/admin/api/deliveries/{id}", a.delivery)
	api("/admin/api/version", a.version)
	api("/metrics", a.metrics)
	a.mux.HandleFunc("/", a.guard(true, func(w http.ResponseWriter, _ *http.Request) {
		a.writeJSON(w, http.StatusNotFound, errorBody{Error: "Not Found"})
	}))
	return a, nil
}

// NewAdminHandler builds the admin routes alone (GET /admin, /admin/api/*,
// /admin/projections, /metrics), for a runtime that serves admin without
// the webhook, such as the AWS admin Lambda. It never learns a listen
// address, so with neither c.Token nor c.Allowlist set every route answers
// 403; that is logged once here. A nil now is time.Now and a nil log is
// slog.Default().
func NewAdminHandler(c AdminConfig, build BuildInfo, trusted []netip.Prefix, now func() time.Time, log *slog.Logger) (http.Handler, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	a, err := newAdmin(c, build, trusted, now, log)
	if err != nil {
		return nil, err
	}
	if c.Token == "" && len(c.Allowlist) == 0 {
		log.Warn("admin disabled: every /admin and /metrics request gets 403 because neither ADMIN_TOKEN nor ADMIN_IP_ALLOWLIST is set")
	}
	return a, nil
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// listeningOn opens admin without authentication when neither a token nor
// an allowlist is set and addr is a loopback address, and logs how admin
// is protected.
func (a *admin) listeningOn(addr net.Addr) {
	loopback := false
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		loopback = true
	}
	switch {
	case a.c.Token != "" || len(a.c.Allowlist) > 0:
		a.open.Store(false)
		a.log.Info("admin protected", "addr", addr.String(), "token", a.c.Token != "", "ip_allowlist_entries", len(a.c.Allowlist))
	case loopback:
		a.open.Store(true)
		a.log.Info("admin open without authentication: listening on a loopback address only", "addr", addr.String())
	default:
		a.open.Store(false)
		a.log.Warn("admin disabled: every /admin and /metrics request gets 403 because the address is not loopback and neither ADMIN_TOKEN nor ADMIN_IP_ALLOWLIST is set",
			"addr", addr.String())
	}
}

// guard applies the access rules, in this order: fail-closed (403 when
// nothing protects a non-loopback admin), the IP allowlist (403), then the
// bearer token (401) when needToken (the page and its assets hold no data:
// they only need the address checks, so the page can ask for the token).
func (a *admin) guard(needToken bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		protected := a.c.Token != "" || len(a.c.Allowlist) > 0
		if !protected && !a.open.Load() {
			a.deny(w, r, http.StatusForbidden, "admin_disabled",
				"admin is disabled: set ADMIN_TOKEN or ADMIN_IP_ALLOWLIST, or listen on a loopback address")
			return
		}
		if len(a.c.Allowlist) > 0 {
			ip := ClientIP(r, a.trusted)
			if !ip.IsValid() || !isTrusted(ip, a.c.Allowlist) {
				a.deny(w, r, http.StatusForbidden, "ip_not_allowed", "")
				return
			}
		}
		if needToken && a.c.Token != "" {
			got, ok := bearer(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dispatcher admin"`)
				a.deny(w, r, http.StatusUnauthorized, "token_missing", "send Authorization: Bearer <ADMIN_TOKEN>")
				return
			}
			gotHash := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(gotHash[:], a.tokenHash[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dispatcher admin", error="invalid_token"`)
				a.deny(w, r, http.StatusUnauthorized, "token_invalid", "")
				return
			}
		}
		h(w, r)
	}
}

func (a *admin) deny(w http.ResponseWriter, r *http.Request, status int, reason, detail string) {
	a.log.Info("admin request denied", "path", r.URL.Path, "status", status, "reason", reason,
		"client_ip", ClientIP(r, a.trusted).String())
	msg := "Forbidden"
	if status == http.StatusUnauthorized {
		msg = "Unauthorized"
	}
	a.writeJSON(w, status, errorBody{Error: msg, Detail: detail})
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// securityHeaders: the page loads only its own script and style and talks
// only to its own origin.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func (a *admin) dashboard(w http.ResponseWriter, r *http.Request) {
	b, err := dashboardFS.ReadFile("dashboard/index.html")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// redact replaces any secret in b.
func (a *admin) redact(b []byte) []byte {
	for _, s := range a.secrets {
		if bytes.Contains(b, s) {
			b = bytes.ReplaceAll(b, s, []byte("[redacted]"))
		}
	}
	return b
}

func (a *admin) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.log.Error("admin: encode response", "error", err)
		b, status = []byte(`{"error":"Internal Server Error"}`), http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(a.redact(b), '\n'))
}

// fail answers 500 without the error's text (it may name paths); the log
// has it.
func (a *admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("admin read failed", "path", r.URL.Path, "error", err)
	a.writeJSON(w, http.StatusInternalServerError, errorBody{Error: "Internal Server Error"})
}

// nonNil makes JSON arrays of nil slices.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// FoldLagBody is the JSON shape of facts.FoldLag.
type FoldLagBody struct {
	Pending       int64   `json:"pending"`
	OldestSeconds float64 `json:"oldest_seconds"`
}

func foldLagBody(l facts.FoldLag) FoldLagBody {
	return FoldLagBody{Pending: l.Pending, OldestSeconds: l.Oldest.Seconds()}
}

// HealthBody is the answer of GET /admin/api/health: the health report,
// the queue depths and the projections' fold lag.
type HealthBody struct {
	facts.HealthReport
	Queues  []facts.QueueDepth `json:"queues"`
	FoldLag FoldLagBody        `json:"fold_lag"`
}

// Health computes the health body from r (the status command uses it on a
// local store).
func Health(ctx context.Context, r AdminReader) (HealthBody, error) {
	in, err := r.HealthInput(ctx)
	if err != nil {
		return HealthBody{}, fmt.Errorf("health: %w", err)
	}
	qs, err := r.Queues(ctx)
	if err != nil {
		return HealthBody{}, fmt.Errorf("health: %w", err)
	}
	lag, err := r.FoldLag(ctx)
	if err != nil {
		return HealthBody{}, fmt.Errorf("health: %w", err)
	}
	// nil queues (a runtime that cannot say) leave the queue checks out.
	in.Queues, in.FoldLag = qs, &lag
	return HealthBody{HealthReport: facts.Health(in), Queues: nonNil(qs), FoldLag: foldLagBody(lag)}, nil
}

func (a *admin) health(w http.ResponseWriter, r *http.Request) {
	b, err := Health(r.Context(), a.c.Reader)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, b)
}

// SummaryBody is the global counters and the time of the latest fact.
type SummaryBody struct {
	facts.Counts
	LastEventAt time.Time `json:"last_event_at,omitzero"`
}

// TopReposBody is the busiest source repositories over a window.
type TopReposBody struct {
	Minutes int               `json:"minutes"`
	Repos   []facts.RepoCount `json:"repos"`
}

// ProjectionsBody is the answer of GET /admin/projections.
type ProjectionsBody struct {
	Summary          SummaryBody          `json:"summary"`
	TopRepos         TopReposBody         `json:"top_repos"`
	RecentFailures   []facts.Failure      `json:"recent_failures"`
	RecentDeliveries []facts.Funnel       `json:"recent_deliveries"`
	HourlyTrend      []facts.HourBucket   `json:"hourly_trend"`
	Latency          facts.LatencySummary `json:"latency"`
	LatencyWindowH   int                  `json:"latency_window_hours"`
	Queues           []facts.QueueDepth   `json:"queues"`
	FoldLag          FoldLagBody          `json:"fold_lag"`
}

// Projections reads the dashboard's projections; minutes is the top-repos
// window (5, 15 or 60).
func Projections(ctx context.Context, rd AdminReader, minutes int, latencyWindow time.Duration) (ProjectionsBody, error) {
	var b ProjectionsBody
	var err error
	wrap := func(what string, e error) error { return fmt.Errorf("projections: %s: %w", what, e) }
	sum, err := rd.Summary(ctx)
	if err != nil {
		return b, wrap("summary", err)
	}
	b.Summary = SummaryBody{Counts: sum.Counts, LastEventAt: sum.LastEventAt}
	b.TopRepos.Minutes = minutes
	if b.TopRepos.Repos, err = rd.TopRepos(ctx, minutes, adminTopRepos); err != nil {
		return b, wrap("top repos", err)
	}
	if b.RecentFailures, err = rd.RecentFailures(ctx, adminRecentFailures); err != nil {
		return b, wrap("recent failures", err)
	}
	if b.RecentDeliveries, err = rd.RecentDeliveries(ctx, adminRecentDeliveries); err != nil {
		return b, wrap("recent deliveries", err)
	}
	if b.HourlyTrend, err = rd.HourlyTrend(ctx, adminTrendHours); err != nil {
		return b, wrap("hourly trend", err)
	}
	if b.Latency, err = rd.Latency(ctx, latencyWindow); err != nil {
		return b, wrap("latency", err)
	}
	b.LatencyWindowH = int(latencyWindow / time.Hour)
	if b.Queues, err = rd.Queues(ctx); err != nil {
		return b, wrap("queues", err)
	}
	lag, err := rd.FoldLag(ctx)
	if err != nil {
		return b, wrap("fold lag", err)
	}
	b.FoldLag = foldLagBody(lag)
	b.TopRepos.Repos, b.RecentFailures, b.RecentDeliveries = nonNil(b.TopRepos.Repos), nonNil(b.RecentFailures), nonNil(b.RecentDeliveries)
	b.HourlyTrend, b.Queues = nonNil(b.HourlyTrend), nonNil(b.Queues)
	return b, nil
}

// TopReposWindow maps the minutes query parameter to 5, 15 or 60 (the
// original's rule: 15 or 60 when it says so, otherwise 5).
func TopReposWindow(q string) int {
	switch q {
	case "15":
		return 15
	case "60":
		return 60
	}
	return 5
}

func (a *admin) projections(w http.ResponseWriter, r *http.Request) {
	b, err := Projections(r.Context(), a.c.Reader, TopReposWindow(r.URL.Query().Get("minutes")), a.c.LatencyWindow)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, b)
}

func (a *admin) repos(w http.ResponseWriter, r *http.Request) {
	rs, err := a.c.Reader.RepoStats(r.Context(), 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, nonNil(rs))
}

func (a *admin) recentEvents(w http.ResponseWriter, r *http.Request) {
	evs, err := a.c.Reader.RecentEvents(r.Context(), adminRecentEvents)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, nonNil(evs))
}

func (a *admin) journey(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("deliveryId")
	if id == "" {
		a.writeJSON(w, http.StatusBadRequest, errorBody{Error: "Missing required query parameter: deliveryId"})
		return
	}
	evs, err := a.c.Reader.Journey(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, nonNil(evs))
}

// TargetTrace is what happened to one target of a delivery.
type TargetTrace struct {
	Repository string `json:"repository"`
	Workflow   string `json:"workflow"`
	Ref        string `json:"ref,omitempty"`
	// Status is the latest known state: queued, denied, succeeded or failed.
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
	RunID    int64     `json:"run_id,omitempty"`
	RunURL   string    `json:"run_url,omitempty"`
	Time     time.Time `json:"time"`
}

// DeliveryBody is the answer of GET /admin/api/deliveries/{id}: the
// funnel, each target's fate and every fact of the delivery.
type DeliveryBody struct {
	Delivery facts.Funnel  `json:"delivery"`
	Targets  []TargetTrace `json:"targets"`
	Journey  []facts.Event `json:"journey"`
}

// Targets derives each target's fate from a delivery's facts (in time
// order): the outcome of a trigger wins over queued; targets keep the
// order in which they first appear.
func Targets(journey []facts.Event) []TargetTrace {
	var out []TargetTrace
	index := map[string]int{}
	rank := map[string]int{"queued": 1, "denied": 2, "failed": 3, "succeeded": 4}
	for _, e := range journey {
		d := e.Data
		var status string
		switch e.Type {
		case facts.TypeTargetQueued:
			status = "queued"
		case facts.TypeTargetDenied:
			status = "denied"
		case facts.TypeTriggerSucceeded:
			status = "succeeded"
		case facts.TypeTriggerFailed:
			status = "failed"
		default:
			continue
		}
		key := strings.ToLower(d.TargetRepo) + "\x00" + strings.ToLower(d.TargetWorkflow)
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, TargetTrace{Repository: d.TargetRepo, Workflow: d.TargetWorkflow})
		}
		t := &out[i]
		if d.Ref != "" {
			t.Ref = d.Ref
		}
		if rank[status] < rank[t.Status] {
			continue
		}
		t.Status, t.Time = status, e.Time
		if d.Reason != "" {
			t.Reason = d.Reason
		}
		if d.Detail != "" {
			t.Detail = d.Detail
		}
		t.Attempts, t.Error, t.RunID, t.RunURL = d.Attempts, d.Error, d.TargetRunID, d.TargetRunURL
	}
	return nonNil(out)
}

// Delivery reads one delivery: ok is false when nothing is known about it.
func Delivery(ctx context.Context, rd AdminReader, id string) (b DeliveryBody, ok bool, err error) {
	f, found, err := rd.Delivery(ctx, id)
	if err != nil {
		return b, false, fmt.Errorf("delivery: %w", err)
	}
	evs, err := rd.Journey(ctx, id)
	if err != nil {
		return b, false, fmt.Errorf("delivery: %w", err)
	}
	if !found && len(evs) == 0 {
		return b, false, nil
	}
	if !found {
		f = facts.Funnel{DeliveryID: id, Status: facts.DeliveryInProgress}
	}
	return DeliveryBody{Delivery: f, Targets: Targets(evs), Journey: nonNil(evs)}, true, nil
}

func (a *admin) delivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, ok, err := Delivery(r.Context(), a.c.Reader, id)
	switch {
	case err != nil:
		a.fail(w, r, err)
	case !ok:
		a.writeJSON(w, http.StatusNotFound, errorBody{Error: "Not Found", Detail: "no fact recorded for this delivery id"})
	default:
		a.writeJSON(w, http.StatusOK, b)
	}
}

// VersionBody is the answer of GET /version and GET /admin/api/version: the
// build and, when set, the deployment's APP_VERSION (and, on the admin
// route, APP_IMAGE_SHA).
type VersionBody struct {
	BuildInfo
	AppVersion string `json:"app_version,omitempty"`
	ImageSHA   string `json:"image_sha,omitempty"`
}

func (a *admin) version(w http.ResponseWriter, _ *http.Request) {
	a.writeJSON(w, http.StatusOK, VersionBody{BuildInfo: a.build, AppVersion: a.c.AppVersion, ImageSHA: a.c.ImageSHA})
}
