package ghfake

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Reporter receives violations (a *testing.T fits).
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Option configures a Server.
type Option func(*Server)

// WithT reports every violation to r.
func WithT(r Reporter) Option { return func(s *Server) { s.reporter = r } }

// WithPrefix serves the API under prefix, as GitHub Enterprise Server does
// ("/api/v3").
func WithPrefix(prefix string) Option {
	return func(s *Server) { s.prefix = "/" + strings.Trim(prefix, "/") }
}

// WithClock sets the clock for run creation times, Date and rate-limit
// headers (JWTs and token expiry always use the real clock, as the App
// libraries do).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithApp sets the App id and slug (default 1001, "dispatcher-test").
func WithApp(id int64, slug string) Option {
	return func(s *Server) { s.appID, s.appSlug = id, slug }
}

// WithKey sets the App's private key (default: a key generated once per
// process and shared by every Server).
func WithKey(k *rsa.PrivateKey) Option { return func(s *Server) { s.key = k } }

// WithoutOpenAPICheck turns the request check off.
func WithoutOpenAPICheck() Option { return func(s *Server) { s.noCheck = true } }

// WithMutationWindow sets how long each mutating request (dispatch, issue)
// is held open so that a concurrent one of the same installation is
// noticed and reported as a violation (default 1ms; 0 for load tests).
func WithMutationWindow(d time.Duration) Option { return func(s *Server) { s.mutationWindow = d } }

// WithoutWorkflowCheck turns off the checks of a dispatch against the
// target workflow file (a workflow_dispatch trigger, declared and required
// inputs): any workflow file can then be dispatched with any inputs.
func WithoutWorkflowCheck() Option { return func(s *Server) { s.noWorkflowCheck = true } }

// WithRateLimit sets x-ratelimit-limit per installation (default 5000).
func WithRateLimit(n int) Option { return func(s *Server) { s.rateLimit = n } }

// Repo is a repository of the fake.
type Repo struct {
	// FullName is "owner/name".
	FullName string
	// DefaultBranch defaults to "main".
	DefaultBranch string
	// Branches are other refs a dispatch may name (the default branch is
	// always valid).
	Branches []string
	// Files maps paths to contents on the default branch. Workflows are
	// files under .github/workflows/.
	Files map[string]string
}

// Run is a workflow run of the fake.
type Run struct {
	ID             int64
	Repository     string // "owner/name"
	WorkflowPath   string // e.g. ".github/workflows/ci.yml"
	Name           string
	Event          string // default "push"
	Status         string // default "completed"
	Conclusion     string // "" is null
	HeadBranch     *string
	HeadSHA        string
	HeadRepository string // full name; "" leaves head_repository out
	RunAttempt     int    // default 1
	Actor          string // login; default "octocat"
	CreatedAt      time.Time

	listAt time.Time // not listed before (SetListingDelay)
}

// Dispatch is a recorded workflow_dispatch.
type Dispatch struct {
	Repository   string
	Workflow     string
	Ref          string
	Inputs       map[string]string
	RunDetails   bool // the body asked for return_run_details
	RunID        int64
	Installation int64
	// Body is the raw request body.
	Body json.RawMessage
	// At is when the fake applied it (its clock, WithClock).
	At time.Time
}

// Issue is a recorded issue.
type Issue struct {
	Repository string
	Number     int
	Title      string
	Body       string
}

// Request is a logged request.
type Request struct {
	Method       string
	Path         string // without the prefix
	Query        string
	Status       int // 0 when the connection was reset
	Installation int64
	JWT          bool
	IfNoneMatch  string
}

// Server is the fake. Create it with New and Close it after use.
type Server struct {
	srv      *httptest.Server
	prefix   string
	now      func() time.Time
	appID    int64
	appSlug  string
	key      *rsa.PrivateKey
	reporter Reporter
	noCheck  bool
	checker  *Checker

	mu               sync.Mutex
	rateLimit        int
	repos            map[string]*Repo           // lower full name
	overrides        map[string]json.RawMessage // lower repo + "\x00" + path
	installations    map[int64][]string         // id -> lower repo names
	tokens           map[string]int64
	issued           []string // every installation token ever issued
	used             map[int64]int
	runs             []*Run
	nextRunID        int64
	dispatches       []Dispatch
	issues           []Issue
	requests         []Request
	faults           []*faultRule
	violations       []string
	rejectRunDetails bool
	inFlight         map[int64]int
	mutationWindow   time.Duration
	gates            []*Gate
	storm            *stormState
	counters         Counters
	latency          time.Duration
	listingDelay     time.Duration
	noWorkflowCheck  bool
}

var (
	sharedKeyOnce sync.Once
	sharedKey     *rsa.PrivateKey
)

func defaultKey() *rsa.PrivateKey {
	sharedKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(fmt.Sprintf("ghfake: generate key: %v", err))
		}
		sharedKey = k
	})
	return sharedKey
}

// New starts a fake GitHub.
func New(opts ...Option) *Server {
	s := &Server{
		now:            time.Now,
		appID:          1001,
		appSlug:        "dispatcher-test",
		rateLimit:      5000,
		repos:          map[string]*Repo{},
		overrides:      map[string]json.RawMessage{},
		installations:  map[int64][]string{},
		tokens:         map[string]int64{},
		used:           map[int64]int{},
		nextRunID:      9000,
		inFlight:       map[int64]int{},
		mutationWindow: time.Millisecond,
	}
	for _, o := range opts {
		o(s)
	}
	if s.key == nil {
		s.key = defaultKey()
	}
	if !s.noCheck {
		c, err := NewChecker()
		if err != nil {
			panic(err)
		}
		s.checker = c
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the API root to give the client (GITHUB_API_URL), with a trailing
// slash and the prefix.
func (s *Server) URL() string { return s.srv.URL + s.prefix + "/" }

// AppID is the App's id.
func (s *Server) AppID() int64 { return s.appID }

// AppSlug is the App's slug; its runs are created by "<slug>[bot]".
func (s *Server) AppSlug() string { return s.appSlug }

// PrivateKeyPEM is the App's private key, PKCS#1 PEM (as GitHub issues it).
func (s *Server) PrivateKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.key)})
}

// PrivateKeyPKCS8PEM is the App's private key, PKCS#8 PEM.
func (s *Server) PrivateKeyPKCS8PEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// AddRepo adds (or replaces) a repository.
func (s *Server) AddRepo(r Repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.DefaultBranch == "" {
		r.DefaultBranch = "main"
	}
	files := map[string]string{}
	for k, v := range r.Files {
		files[k] = v
	}
	r.Files = files
	s.repos[strings.ToLower(r.FullName)] = &r
}

// AddInstallation installs the App with id on the given repositories.
func (s *Server) AddInstallation(id int64, repos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range repos {
		s.installations[id] = append(s.installations[id], strings.ToLower(r))
	}
	if _, ok := s.installations[id]; !ok {
		s.installations[id] = nil
	}
}

// RemoveInstallation uninstalls the App (its tokens stop working).
func (s *Server) RemoveInstallation(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.installations, id)
}

// SetFile writes a file on the default branch of repo.
func (s *Server) SetFile(repo, p, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(repo).Files[p] = content
}

// DeleteFile removes a file.
func (s *Server) DeleteFile(repo, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.repo(repo).Files, p)
}

// SetContentResponse makes GET contents of p in repo answer 200 with
// body (any JSON value) instead of the file, e.g. a symlink entry.
func (s *Server) SetContentResponse(repo, p string, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overrides[strings.ToLower(repo)+"\x00"+p] = b
}

func (s *Server) repo(full string) *Repo {
	r, ok := s.repos[strings.ToLower(full)]
	if !ok {
		panic("ghfake: unknown repo " + full)
	}
	return r
}

// AddRun adds a workflow run and returns it with defaults filled in.
func (s *Server) AddRun(r Run) Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == 0 {
		s.nextRunID++
		r.ID = s.nextRunID
	}
	if r.Event == "" {
		r.Event = "push"
	}
	if r.Status == "" {
		r.Status = "completed"
	}
	if r.RunAttempt == 0 {
		r.RunAttempt = 1
	}
	if r.Actor == "" {
		r.Actor = "octocat"
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	s.runs = append(s.runs, &r)
	return r
}

// RejectRunDetails makes the server behave like an older GitHub Enterprise
// Server: a dispatch body with return_run_details is refused with 400.
func (s *Server) RejectRunDetails(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRunDetails = reject
}

// IssuedTokens returns every installation token the fake has issued,
// revoked ones included (tests check that none leaks into logs).
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// RevokeTokens invalidates every installation token (requests get 401).
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]int64{}
}

// Dispatches returns the recorded dispatches, oldest first.
func (s *Server) Dispatches() []Dispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Dispatch(nil), s.dispatches...)
}

// Issues returns the recorded issues.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Issue(nil), s.issues...)
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Count counts logged requests whose "METHOD /path" matches pattern
// (path.Match per segment, e.g. "GET /repos/*/*/contents/*").
func (s *Server) Count(pattern string) int {
	n := 0
	for _, r := range s.Requests() {
		if matchPattern(pattern, r.Method+" "+r.Path) {
			n++
		}
	}
	return n
}

// RateUsed returns how many requests of installation id counted against
// its primary rate limit (304s do not).
func (s *Server) RateUsed(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[id]
}

// Violations returns the requests that broke the OpenAPI description or
// GitHub's rules (e.g. concurrent mutating requests of one installation).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	if s.reporter != nil {
		s.reporter.Helper()
		s.reporter.Errorf("ghfake: %s", msg)
	}
}

// matchPattern matches "METHOD /a/*/c" against "METHOD /a/b/c" segment by
// segment; a trailing "**" matches the rest.
func matchPattern(pattern, s string) bool {
	pm, pp, _ := strings.Cut(pattern, " ")
	sm, sp, _ := strings.Cut(s, " ")
	if pm != "*" && pm != sm {
		return false
	}
	ps := strings.Split(strings.Trim(pp, "/"), "/")
	ss := strings.Split(strings.Trim(sp, "/"), "/")
	for i, p := range ps {
		if p == "**" {
			return true
		}
		if i >= len(ss) {
			return false
		}
		if ok, _ := path.Match(p, ss[i]); !ok {
			return false
		}
	}
	return len(ps) == len(ss)
}

// answer is a response being built.
type answer struct {
	status int
	header http.Header
	body   any   // JSON-encoded unless nil
	pad    int64 // whitespace bytes written before the JSON body
}

func jsonAnswer(status int, body any) answer { return answer{status: status, body: body} }

func message(status int, msg string) answer {
	return answer{status: status, body: map[string]any{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(status),
	}}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	p := r.URL.Path
	logEntry := Request{Method: r.Method, Query: r.URL.RawQuery, IfNoneMatch: r.Header.Get("If-None-Match")}
	if s.prefix != "" {
		if !strings.HasPrefix(p, s.prefix+"/") {
			s.violate("%s %s: outside the API prefix %s", r.Method, p, s.prefix)
			s.write(w, r, &logEntry, message(404, "Not Found"), 0)
			return
		}
		p = strings.TrimPrefix(p, s.prefix)
	}
	logEntry.Path = p
	if s.checker != nil {
		if err := s.checker.Check(r.Method, p, r.URL.Query(), body); err != nil {
			s.violate("%v", err)
			s.write(w, r, &logEntry, message(400, "ghfake: "+err.Error()), 0)
			return
		}
	}
	s.count(r.Method, p)
	for _, g := range s.gatesFor(r.Method + " " + p) {
		g.pass(r.Context().Done())
	}
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	f := s.takeFault(r.Method + " " + p)
	if f == nil {
		f = s.stormFault(r.Method + " " + p)
	}
	if f != nil && f.Latency > 0 && !f.After {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
		}
	}
	if f != nil && !f.After && f.Reset {
		s.reset(w, &logEntry)
		return
	}
	if f != nil && !f.After && f.Status != 0 {
		s.write(w, r, &logEntry, f.answer(s.now()), 0)
		return
	}
	a, inst := s.handle(r, p, body, &logEntry)
	if s.checker != nil {
		s.checkAnswer(r.Method, p, a)
	}
	if f != nil && f.After {
		if f.Latency > 0 {
			time.Sleep(f.Latency)
		}
		if f.Reset {
			s.reset(w, &logEntry)
			return
		}
		if f.Status != 0 {
			a = f.answer(s.now())
		}
	}
	if f != nil {
		a.pad = f.BodyBytes
	}
	s.write(w, r, &logEntry, a, inst)
}

func (s *Server) reset(w http.ResponseWriter, e *Request) {
	s.mu.Lock()
	s.requests = append(s.requests, *e)
	s.counters.Resets++
	s.mu.Unlock()
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("ghfake: cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, e *Request, a answer, inst int64) {
	now := s.now()
	s.mu.Lock()
	if inst != 0 && a.status != http.StatusNotModified {
		s.used[inst]++
	}
	used := s.used[inst]
	e.Status = a.status
	e.Installation = inst
	s.requests = append(s.requests, *e)
	switch {
	case a.status == http.StatusNotModified:
		s.counters.NotModified++
	case a.status == http.StatusTooManyRequests, a.status == http.StatusForbidden && isRateLimitAnswer(a):
		s.counters.RateLimited++
	}
	limit := s.rateLimit
	s.mu.Unlock()
	h := w.Header()
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%d", len(e.Path)))
	for k, vs := range a.header {
		h[k] = vs
	}
	if a.body == nil || a.status == http.StatusNotModified || a.status == http.StatusNoContent {
		w.WriteHeader(a.status)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	if a.pad > 0 {
		chunk := bytes.Repeat([]byte{' '}, 32<<10)
		for left := a.pad; left > 0; left -= int64(len(chunk)) {
			if _, err := w.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
				return // the client gave up reading
			}
		}
	}
	_ = json.NewEncoder(w).Encode(a.body)
}

// checkAnswer reports a 2xx answer of the fake that GitHub's description
// does not document or whose body does not fit the documented shape.
func (s *Server) checkAnswer(method, p string, a answer) {
	var raw []byte
	if a.body != nil {
		var err error
		if raw, err = json.Marshal(a.body); err != nil {
			s.violate("%s %s: answer does not encode: %v", method, p, err)
			return
		}
	}
	if err := s.checker.CheckResponse(method, p, a.status, raw); err != nil {
		s.violate("answer: %v", err)
	}
}

// count counts a request by operation.
func (s *Server) count(method, p string) {
	kind := "unknown"
	if s.checker != nil {
		if op, ok := s.checker.Match(method, p); ok {
			kind = op.OperationID
		}
	} else {
		kind = method + " " + p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counters.Requests == nil {
		s.counters.Requests = map[string]int{}
	}
	s.counters.Requests[kind]++
}

// isRateLimitAnswer recognises a 403 that is a rate limit.
func isRateLimitAnswer(a answer) bool {
	if a.header.Get("X-RateLimit-Remaining") == "0" || a.header.Get("Retry-After") != "" {
		return true
	}
	if m, ok := a.body.(map[string]any); ok {
		msg, _ := m["message"].(string)
		return strings.Contains(strings.ToLower(msg), "rate limit")
	}
	return false
}

// verifyJWT checks an App JWT: RS256 signed by the App key, iss = App id,
// iat not in the future (60 s leeway), exp in the future and at most 10
// minutes after iat.
func (s *Server) verifyJWT(tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg != "RS256" {
		return fmt.Errorf("alg must be RS256")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("bad signature")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat json.Number     `json:"iat"`
		Exp json.Number     `json:"exp"`
	}
	dec := json.NewDecoder(strings.NewReader(string(pb)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	iss := strings.Trim(string(claims.Iss), `"`)
	if iss != strconv.FormatInt(s.appID, 10) {
		return fmt.Errorf("iss %s is not the App id", iss)
	}
	iat, err1 := claims.Iat.Int64()
	exp, err2 := claims.Exp.Int64()
	if err1 != nil || err2 != nil {
		return fmt.Errorf("iat and exp must be integers")
	}
	now := time.Now().Unix()
	switch {
	case iat > now+60:
		return fmt.Errorf("iat is in the future")
	case exp <= now:
		return fmt.Errorf("JWT expired")
	case exp-iat > 600:
		return fmt.Errorf("exp is more than 10 minutes after iat")
	}
	return nil
}

// authenticate returns the installation of a token request, or 0 for a
// valid JWT; a non-nil answer is the error to send.
func (s *Server) authenticate(r *http.Request, jwt bool) (int64, *answer) {
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	if cred == "" {
		a := message(401, "Requires authentication")
		return 0, &a
	}
	if jwt {
		if !strings.EqualFold(scheme, "Bearer") {
			a := message(401, "A JSON web token could not be decoded")
			return 0, &a
		}
		if err := s.verifyJWT(cred); err != nil {
			a := message(401, "A JSON web token could not be decoded: "+err.Error())
			return 0, &a
		}
		return 0, nil
	}
	s.mu.Lock()
	id, ok := s.tokens[cred]
	_, installed := s.installations[id]
	s.mu.Unlock()
	if !ok || !installed {
		a := message(401, "Bad credentials")
		return 0, &a
	}
	return id, nil
}

func (s *Server) installationOf(repo string) (int64, bool) {
	for id, repos := range s.installations {
		for _, r := range repos {
			if r == strings.ToLower(repo) {
				return id, true
			}
		}
	}
	return 0, false
}

func (s *Server) covers(id int64, repo string) bool {
	for _, r := range s.installations[id] {
		if r == strings.ToLower(repo) {
			return true
		}
	}
	return false
}

func newToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "ghs_" + hex.EncodeToString(b)
}

func etagOf(token string, body []byte) string {
	sum := sha256.Sum256(append([]byte(token+"\x00"), body...))
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func sortRunsNewestFirst(runs []*Run) {
	sort.SliceStable(runs, func(i, j int) bool {
		if !runs[i].CreatedAt.Equal(runs[j].CreatedAt) {
			return runs[i].CreatedAt.After(runs[j].CreatedAt)
		}
		return runs[i].ID > runs[j].ID
	})
}
