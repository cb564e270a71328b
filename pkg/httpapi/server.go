package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// DefaultMaxBodyBytes is the webhook body cap: 25 MiB, the most GitHub
// sends.
const DefaultMaxBodyBytes = 25 << 20

// DefaultRateLimit is the default WEBHOOK_RATE_LIMIT: failed (unsigned or
// malformed) requests per minute per client IP.
const DefaultRateLimit = 100

// defaultMaxClients bounds the rate limiter's memory.
const defaultMaxClients = 10000

// BuildInfo is what GET /version reports.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Config configures a Server.
type Config struct {
	// Ingress runs the webhook checks; required (pipeline.NewIngress
	// refuses to build one without a webhook secret).
	Ingress *pipeline.Ingress
	// Build is reported by GET /version.
	Build BuildInfo
	// RateLimit is the number of failed webhook requests (wrong method,
	// too large, missing headers, bad signature) allowed per minute per
	// client IP before such requests are answered 429 (WEBHOOK_RATE_LIMIT);
	// 0 turns the limit off. Correctly signed deliveries are never counted
	// nor refused. Callers that want the default pass DefaultRateLimit.
	RateLimit int
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES; see ParseTrustedProxies and ClientIP).
	TrustedProxies []netip.Prefix
	// MaxBodyBytes caps the webhook body; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// MaxClients bounds the clients the rate limiter tracks; 10,000 when 0.
	MaxClients int
	// AppVersion (APP_VERSION) is reported by GET /version beside Build.
	AppVersion string
	// Admin, when set, mounts the admin routes (see AdminConfig).
	Admin  *AdminConfig
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
}

// Server is the HTTP handler of dispatcher.
type Server struct {
	mux     *http.ServeMux
	ingress *pipeline.Ingress
	build   BuildInfo
	limit   *limiter
	rate    int
	trusted []netip.Prefix
	maxBody int64
	log     *slog.Logger
	appVer  string
	admin   *admin
}

// New builds a Server. It fails without an ingress (and so without a
// webhook secret) and on a negative rate limit or body cap.
func New(c Config) (*Server, error) {
	if c.Ingress == nil {
		return nil, errors.New("http server: the webhook ingress is required (it needs GITHUB_WEBHOOK_SECRET)")
	}
	if c.RateLimit < 0 {
		return nil, fmt.Errorf("http server: WEBHOOK_RATE_LIMIT must be 0 (off) or more, got %d", c.RateLimit)
	}
	if c.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("http server: body cap must be positive, got %d", c.MaxBodyBytes)
	}
	s := &Server{
		mux:     http.NewServeMux(),
		ingress: c.Ingress,
		build:   c.Build,
		rate:    c.RateLimit,
		trusted: c.TrustedProxies,
		maxBody: c.MaxBodyBytes,
		log:     c.Logger,
		appVer:  c.AppVersion,
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	if c.MaxClients <= 0 {
		c.MaxClients = defaultMaxClients
	}
	if s.rate > 0 {
		s.limit = newLimiter(s.rate, time.Minute, c.MaxClients, now)
	}
	s.mux.HandleFunc("/webhooks/github", s.webhook)
	s.mux.HandleFunc("/health", getOnly(s.health))
	s.mux.HandleFunc("/version", getOnly(s.version))
	if c.Admin != nil {
		a, err := newAdmin(*c.Admin, c.Build, c.TrustedProxies, now, s.log)
		if err != nil {
			return nil, fmt.Errorf("http server: %w", err)
		}
		s.admin = a
		for _, p := range []string{"/admin", "/admin/", "/metrics"} {
			s.mux.Handle(p, a)
		}
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "Not Found"})
	})
	return s, nil
}

// Handle mounts another route (e.g. the admin API) on the server.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ListeningOn tells the server the address it serves on: with neither
// ADMIN_TOKEN nor ADMIN_IP_ALLOWLIST set, admin is served on a loopback
// address and refused (403) on any other, and the choice is logged. Until
// it is called (and so always on AWS), admin without either is refused.
func (s *Server) ListeningOn(addr net.Addr) {
	if s.admin != nil {
		s.admin.listeningOn(addr)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

type acceptedBody struct {
	Accepted bool `json:"accepted"`
	Ignored  bool `json:"ignored,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the types used here
		b, status = []byte(`{"error":"Internal Server Error"}`), http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func getOnly(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "Method Not Allowed"})
			return
		}
		f(w, r)
	}
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, VersionBody{BuildInfo: s.build, AppVersion: s.appVer})
}

// webhook serves POST /webhooks/github. The per-IP rate limit
// (WEBHOOK_RATE_LIMIT) counts only the requests that cannot be GitHub's:
// wrong method, too large, missing headers (the signature included) or a
// signature that does not verify. A client over the limit gets 429 for
// such requests; a correctly signed delivery is never refused for rate,
// because GitHub sends every delivery from a few addresses and does not
// redeliver a 429 on its own. (The original service counted every request,
// so a burst of GitHub's own deliveries could be refused and lost.)
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(pipeline.HeaderDelivery)
	log := s.log.With("correlation_id", pipeline.LogSafe(id))

	if r.Method != http.MethodPost {
		if s.refused(w, r, log) {
			return
		}
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "Method Not Allowed"})
		return
	}
	if r.ContentLength > s.maxBody {
		if s.refused(w, r, log) {
			return
		}
		s.tooLarge(w, log)
		return
	}
	var missing []string
	for _, h := range []string{pipeline.HeaderDelivery, pipeline.HeaderEvent} {
		if r.Header.Get(h) == "" {
			missing = append(missing, h)
		}
	}
	// An X-Hub-Signature-256 that is present but empty goes on to fail
	// verification (401); only an absent one is a missing header.
	if len(r.Header.Values(pipeline.HeaderSignature)) == 0 {
		missing = append(missing, pipeline.HeaderSignature)
	}
	if len(missing) > 0 {
		if s.refused(w, r, log) {
			return
		}
		log.Warn("webhook rejected", "outcome", "missing_input", "missing", strings.Join(missing, ", "))
		writeJSON(w, http.StatusBadRequest, errorBody{
			Error: "Missing required GitHub webhook headers or payload", Detail: "missing " + strings.Join(missing, ", "),
		})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if s.refused(w, r, log) {
			return
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.tooLarge(w, log)
			return
		}
		log.Warn("webhook body could not be read", "error", err)
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "Could not read the request body"})
		return
	}

	res := s.ingress.Accept(r.Context(), pipeline.WebhookDelivery{
		ID:          id,
		Event:       r.Header.Get(pipeline.HeaderEvent),
		Signature:   r.Header.Get(pipeline.HeaderSignature),
		ContentType: r.Header.Get("Content-Type"),
		Body:        body,
	})
	// Ingress checks the headers and the signature before anything else:
	// these two outcomes are the requests that did not prove to be
	// GitHub's. Every other outcome passed the signature check.
	if (res.Status == pipeline.IngressBadSignature || res.Status == pipeline.IngressMissingInput) && s.refused(w, r, log) {
		return
	}
	status, v := response(res)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, status, v)
}

// refused counts a request that failed before proving to be GitHub's
// against its client's rate limit, sets the X-RateLimit-* headers, and
// answers 429 (returning true) when the client is over the limit.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, log *slog.Logger) bool {
	if s.limit == nil {
		return false
	}
	ip := ClientIP(r, s.trusted)
	ok, remaining, reset := s.limit.allow(ip)
	secs := int(math.Ceil(reset.Seconds()))
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rate))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(secs))
	if ok {
		return false
	}
	h.Set("Retry-After", strconv.Itoa(secs))
	log.Warn("webhook rate limited", "client_ip", ip.String(), "limit_per_minute", s.rate)
	writeJSON(w, http.StatusTooManyRequests, errorBody{
		Error:  "Rate limit exceeded",
		Detail: fmt.Sprintf("more than %d unauthenticated or malformed requests per minute from this address; retry in %d seconds", s.rate, secs),
	})
	return true
}

func (s *Server) tooLarge(w http.ResponseWriter, log *slog.Logger) {
	log.Warn("webhook rejected", "outcome", "payload_too_large", "max_bytes", s.maxBody)
	writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{
		Error: "Payload too large", Detail: fmt.Sprintf("the body exceeds %d bytes", s.maxBody),
	})
}

// response maps an ingress result to the status and JSON body.
func response(r pipeline.IngressResult) (int, any) {
	switch r.Status {
	case pipeline.IngressAccepted:
		return http.StatusAccepted, acceptedBody{Accepted: true}
	case pipeline.IngressIgnored:
		return http.StatusAccepted, acceptedBody{Accepted: true, Ignored: true}
	case pipeline.IngressMissingInput:
		return http.StatusBadRequest, errorBody{Error: "Missing required GitHub webhook headers or payload", Detail: r.Detail}
	case pipeline.IngressBadSignature:
		return http.StatusUnauthorized, errorBody{Error: "Invalid webhook signature"}
	case pipeline.IngressUnsupportedMedia:
		return http.StatusUnsupportedMediaType, errorBody{Error: "Unsupported media type", Detail: r.Detail}
	case pipeline.IngressInvalidJSON:
		return http.StatusBadRequest, errorBody{Error: "Invalid JSON payload", Detail: r.Detail}
	case pipeline.IngressInvalidPayload:
		return http.StatusBadRequest, errorBody{Error: "Invalid workflow_run payload", Detail: r.Detail}
	case pipeline.IngressDuplicate:
		return http.StatusConflict, errorBody{Error: "Duplicate webhook delivery"}
	default: // IngressUnavailable
		return http.StatusServiceUnavailable, errorBody{Error: "Service unavailable", Detail: "the delivery was not accepted; redeliver it later"}
	}
}
