package ghapp

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v89/github"
	"golang.org/x/sync/singleflight"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// Compile-time checks that the adapter satisfies the pipeline's ports.
var (
	_ pipeline.GitHub       = (*Client)(nil)
	_ pipeline.IssueCreator = (*Client)(nil)
)

// DefaultBaseURL is the REST API of github.com.
const DefaultBaseURL = "https://api.github.com/"

// Defaults of the options.
const (
	DefaultMaxRetries      = 2
	DefaultBaseDelay       = 200 * time.Millisecond
	DefaultMaxDelay        = 30 * time.Second
	DefaultMaxWait         = time.Minute
	DefaultInstallationTTL = 10 * time.Minute
	DefaultNegativeTTL     = time.Minute
	DefaultRequestTimeout  = 30 * time.Second
	// DefaultConfigReadConcurrency bounds the config reads of a Client in
	// flight at once (GitHub allows 100 concurrent requests in all).
	DefaultConfigReadConcurrency = 16
	// DefaultWritesPerMinute is GITHUB_WRITES_PER_MINUTE's default: GitHub's
	// secondary limit for content-creating requests.
	DefaultWritesPerMinute = 80
)

// flightTimeout bounds a shared config read, which outlives the caller
// that started it.
const flightTimeout = 2 * time.Minute

type options struct {
	baseURL         string
	httpClient      *http.Client
	clock           Clock
	rand            Rand
	maxRetries      int
	baseDelay       time.Duration
	maxDelay        time.Duration
	maxWait         time.Duration
	installationTTL time.Duration
	negativeTTL     time.Duration
	appSlug         string
	userAgent       string
	configTTL       time.Duration
	readConcurrency int
	flightTimeout   time.Duration
	pacer           Pacer
}

// Option configures a Client.
type Option func(*options)

// WithBaseURL sets the REST API root (GITHUB_API_URL), e.g.
// "https://ghe.example.com/api/v3/" for GitHub Enterprise Server. Every
// call uses it, installation tokens included. A missing trailing slash is
// added.
func WithBaseURL(u string) Option { return func(o *options) { o.baseURL = u } }

// WithHTTPClient sets the HTTP client whose Transport carries every
// request (and whose Timeout bounds each one). Default: a client with
// http.DefaultTransport and DefaultRequestTimeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithClock sets the clock used for waits, cache expiry and "since"
// times. Default: the real clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithRand sets the random source of the backoff jitter. Default: a PCG
// seeded from crypto/rand.
func WithRand(r Rand) Option { return func(o *options) { o.rand = r } }

// WithMaxRetries sets DISPATCH_MAX_RETRIES: the retries after the first
// call (total calls ≤ n+1). Default 2. Negative values mean 0.
func WithMaxRetries(n int) Option {
	return func(o *options) { o.maxRetries = max(n, 0) }
}

// WithBaseDelay sets DISPATCH_RETRY_BASE_DELAY_MS: the backoff before
// retry n is random in [0, min(cap, base·2^(n-1))]. Default 200ms.
func WithBaseDelay(d time.Duration) Option { return func(o *options) { o.baseDelay = max(d, 0) } }

// WithMaxDelay caps the exponential backoff. Default 30s.
func WithMaxDelay(d time.Duration) Option { return func(o *options) { o.maxDelay = max(d, 0) } }

// WithMaxWait is the longest single wait the client sleeps in-process
// (server-directed waits included). A longer wait ends the call with a
// transient error carrying Wait. Default 1 minute.
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = max(d, 0) } }

// WithInstallationTTL sets how long a repository's installation id is
// cached. Default 10 minutes.
func WithInstallationTTL(d time.Duration) Option {
	return func(o *options) { o.installationTTL = d }
}

// WithNegativeCacheTTL sets how long a 404 for a dispatching.yml path is
// remembered (GitHub sends no ETag with a 404). 0 disables it. Default 1
// minute: a root dispatching.yml created meanwhile is seen at most that
// much later.
func WithNegativeCacheTTL(d time.Duration) Option {
	return func(o *options) { o.negativeTTL = d }
}

// WithAppSlug sets the App's slug used to recognise runs
// the App dispatched (actor "<slug>[bot]"); without it the slug is read
// once from GET /app.
func WithAppSlug(slug string) Option { return func(o *options) { o.appSlug = slug } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithConfigCacheTTL sets CONFIG_CACHE_TTL: for d after a repository's
// dispatching.yml was read or revalidated, a lookup returns the cached
// result without a request. 0 (the default) revalidates on every lookup
// (ETag; a 304 is free against the primary rate limit). Only decisions are
// cached (found, missing, invalid), never a failure. EvictConfig drops a
// repository's entry at once.
func WithConfigCacheTTL(d time.Duration) Option {
	return func(o *options) { o.configTTL = max(d, 0) }
}

// WithConfigReadConcurrency bounds how many config reads the Client runs
// at once (ReadConfigs, and lookups of different repositories); n ≤ 0
// means unbounded. Default DefaultConfigReadConcurrency.
func WithConfigReadConcurrency(n int) Option {
	return func(o *options) { o.readConcurrency = n }
}

// WithWritesPerMinute sets GITHUB_WRITES_PER_MINUTE: the content-creating
// requests (dispatches, issues) of each installation are sent one at a
// time and at most n in any minute (NewRatePacer); a burst waits its turn
// instead of drawing secondary-rate-limit 403s. 0 sends them unpaced (still
// one at a time). Without this option (or WithPacer) a Client is unpaced:
// the caller passes GITHUB_WRITES_PER_MINUTE, whose default is
// DefaultWritesPerMinute.
func WithWritesPerMinute(n int) Option {
	return func(o *options) { o.pacer = pacerOrNil(NewRatePacer(n, time.Minute)) }
}

// WithPacer sets the pacer of content-creating requests (nil: unpaced),
// e.g. NewRatePacer with a short window in tests. The waits it asks for are
// slept with the Client's clock.
func WithPacer(p Pacer) Option { return func(o *options) { o.pacer = p } }

// pacerOrNil keeps a nil *RatePacer from becoming a non-nil Pacer.
func pacerOrNil(p *RatePacer) Pacer {
	if p == nil {
		return nil
	}
	return p
}

// Client is the GitHub adapter. Build it with New.
type Client struct {
	opts  options
	clock Clock
	rand  Rand
	base  *url.URL
	host  string
	appID int64
	apps  *ghinstallation.AppsTransport
	// newApps returns a new App (JWT) transport over the request chain.
	newApps func() *ghinstallation.AppsTransport
	app     *github.Client // authenticated as the App (JWT)
	hc      *http.Client   // the shared base client

	mu        sync.Mutex
	installs  map[int64]*installation
	mutations map[int64]chan struct{}
	repoInst  map[string]repoInstallation
	contents  map[string]*contentEntry
	configs   map[string]cachedConfig
	configGen map[string]uint64 // bumped by EvictConfig

	flights singleflight.Group // one config read in flight per repository
	// flightJoined, set by tests only, is called once a lookup has joined
	// (or started) the read in flight for its repository.
	flightJoined func(key string)
	readSem      chan struct{} // bounds concurrent config reads; nil = unbounded

	// attributed are the runs earlier Dispatch calls got as their result
	// (run id -> when), so that the run search inside Dispatch never takes
	// another dispatch's run for its own.
	attrMu     sync.Mutex
	attributed map[int64]time.Time
	botLogin   string

	// noRunDetails remembers that the server rejected return_run_details
	// (a Client talks to one host, so this is per host).
	noRunDetails atomic.Bool
	stats        stats
}

type repoInstallation struct {
	id      int64
	expires time.Time
}

// installation is one installation's transport (one token cache) and the
// go-github client on top of it.
type installation struct {
	id  int64
	tr  *ghinstallation.Transport
	gh  *github.Client
	mut chan struct{}
}

func (i *installation) lockMutation(ctx context.Context) error {
	select {
	case i.mut <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (i *installation) unlockMutation() { <-i.mut }

// New returns a Client for the GitHub App appID authenticating with
// privateKeyPEM (PKCS#1 or PKCS#8; the caller reads GITHUB_APP_PRIVATE_KEY
// or GITHUB_APP_PRIVATE_KEY_FILE). It makes no request.
func New(appID int64, privateKeyPEM []byte, opts ...Option) (*Client, error) {
	if appID <= 0 {
		return nil, fmt.Errorf("ghapp: GitHub App id must be positive, got %d", appID)
	}
	key, err := ParsePrivateKey(privateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("ghapp: %w", err)
	}
	o := options{
		baseURL:         DefaultBaseURL,
		maxRetries:      DefaultMaxRetries,
		baseDelay:       DefaultBaseDelay,
		maxDelay:        DefaultMaxDelay,
		maxWait:         DefaultMaxWait,
		installationTTL: DefaultInstallationTTL,
		negativeTTL:     DefaultNegativeTTL,
		userAgent:       "dispatcher",
		readConcurrency: DefaultConfigReadConcurrency,
		flightTimeout:   flightTimeout,
	}
	for _, f := range opts {
		f(&o)
	}
	if o.baseURL == "" {
		o.baseURL = DefaultBaseURL
	}
	if !strings.HasSuffix(o.baseURL, "/") {
		o.baseURL += "/"
	}
	base, err := url.Parse(o.baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("ghapp: GITHUB_API_URL %q is not an http(s) URL", o.baseURL)
	}
	c := &Client{
		opts:       o,
		clock:      o.clock,
		base:       base,
		host:       base.Host,
		appID:      appID,
		installs:   map[int64]*installation{},
		mutations:  map[int64]chan struct{}{},
		repoInst:   map[string]repoInstallation{},
		contents:   map[string]*contentEntry{},
		configs:    map[string]cachedConfig{},
		configGen:  map[string]uint64{},
		attributed: map[int64]time.Time{},
	}
	if o.readConcurrency > 0 {
		c.readSem = make(chan struct{}, o.readConcurrency)
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	r := o.rand
	if r == nil {
		var seed [16]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("ghapp: seed jitter: %w", err)
		}
		r = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	c.rand = &lockedRand{r: r}
	c.hc = o.httpClient
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultRequestTimeout}
	}
	tr := c.hc.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	// Every request, the App's and the installations' (tokens included),
	// goes through this one chain.
	chain := tokenBodyTransport{next: capTransport{next: countingTransport{tr, &c.stats}, max: MaxResponseBytes}}
	c.newApps = func() *ghinstallation.AppsTransport {
		a := ghinstallation.NewAppsTransportFromPrivateKey(chain, appID, key)
		a.BaseURL = strings.TrimSuffix(base.String(), "/")
		a.Client = &http.Client{Transport: chain, Timeout: c.hc.Timeout}
		return a
	}
	c.apps = c.newApps()
	c.app, err = c.newGitHub(c.apps)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) newGitHub(tr http.RoundTripper) (*github.Client, error) {
	hc := &http.Client{Transport: tr, Timeout: c.hc.Timeout, Jar: c.hc.Jar}
	s := c.base.String()
	gh, err := github.NewClient(
		github.WithHTTPClient(hc),
		github.WithURLs(&s, &s),
		github.WithUserAgent(c.opts.userAgent),
		github.WithDisableRateLimitCheck(),
	)
	if err != nil {
		return nil, fmt.Errorf("ghapp: %w", err)
	}
	return gh, nil
}

// installationByID returns the (cached) transport of installation id.
func (c *Client) installationByID(id int64) (*installation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in, ok := c.installs[id]; ok {
		return in, nil
	}
	return c.newInstallationLocked(id)
}

func (c *Client) newInstallationLocked(id int64) (*installation, error) {
	// Each installation gets its own AppsTransport: ghinstallation writes
	// the one it was built from while minting a token (under the
	// installation's lock only), so sharing it races.
	apps := c.newApps()
	tr := ghinstallation.NewFromAppsTransport(apps, id)
	tr.BaseURL = apps.BaseURL
	tr.Client = apps.Client
	// ghinstallation sends the body "null" without options; the chain's
	// tokenBodyTransport sends "{}" instead (see there).
	gh, err := c.newGitHub(tr)
	if err != nil {
		return nil, err
	}
	mut, ok := c.mutations[id]
	if !ok {
		mut = make(chan struct{}, 1)
		c.mutations[id] = mut
	}
	in := &installation{id: id, tr: tr, gh: gh, mut: mut}
	c.installs[id] = in
	return in, nil
}

// refreshInstallation replaces the transport of in (after a 401) so the
// next request mints a new token.
func (c *Client) refreshInstallation(in *installation) *installation {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.installs[in.id]; ok && cur != in {
		return cur // someone else refreshed already
	}
	fresh, err := c.newInstallationLocked(in.id)
	if err != nil {
		return in
	}
	return fresh
}

var namePart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// splitRepo splits "owner/name" and rejects anything else, so a value
// from a dispatching.yml can never change the request path.
func splitRepo(repository string) (string, string, error) {
	owner, name, ok := strings.Cut(repository, "/")
	if !ok || !namePart.MatchString(owner) || !namePart.MatchString(name) || name == "." || name == ".." {
		return "", "", fmt.Errorf("%q is not an owner/name repository", repository)
	}
	return owner, name, nil
}

func repoKey(repository string) string { return strings.ToLower(repository) }

// installationFor resolves the installation of repository: the cache,
// else GET /repos/{owner}/{repo}/installation as the App. fallback (the
// caller's installation id, 0 for none) is used only when the lookup
// fails transiently; viaFallback is then that transient error, and a 403
// or 404 through the fallback installation must be reported as transient
// (call.viaFallback), since the repository's own installation may see
// what the fallback cannot.
func (c *Client) installationFor(ctx context.Context, repository string, fallback int64) (inst *installation, viaFallback error, err error) {
	owner, name, err := splitRepo(repository)
	if err != nil {
		return nil, nil, &Error{Op: "find the installation of " + repository, Kind: KindPermanent, Err: err}
	}
	key := repoKey(repository)
	now := c.clock.Now()
	c.mu.Lock()
	ri, ok := c.repoInst[key]
	c.mu.Unlock()
	if ok && now.Before(ri.expires) {
		in, err := c.installationByID(ri.id)
		return in, nil, err
	}
	var gi *github.Installation
	op := "find the GitHub App installation of " + repository
	_, err = c.run(ctx, call{op: op, send: func(ctx context.Context, _ *installation) (*github.Response, error) {
		u := fmt.Sprintf("repos/%s/%s/installation", url.PathEscape(owner), url.PathEscape(name))
		req, err := c.app.NewRequest(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		return c.app.Do(req, &gi)
	}})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			e.Err = ErrNoInstallation // Is(ErrNotFound) holds through the 404 status
			e.Message = "the GitHub App is not installed on " + repository + " (or the repository does not exist)"
			return nil, nil, e
		}
		if fallback != 0 && IsTransient(err) {
			in, ferr := c.installationByID(fallback)
			return in, err, ferr
		}
		return nil, nil, err
	}
	if gi.GetID() == 0 {
		return nil, nil, &Error{Op: op, Kind: KindPermanent, Err: errors.New("GitHub returned an installation without id")}
	}
	c.mu.Lock()
	c.repoInst[key] = repoInstallation{id: gi.GetID(), expires: now.Add(c.opts.installationTTL)}
	c.mu.Unlock()
	in, err := c.installationByID(gi.GetID())
	return in, nil, err
}

// botLoginFor returns "<slug>[bot]", the actor of runs the App dispatches.
func (c *Client) botLoginFor(ctx context.Context) (string, error) {
	c.mu.Lock()
	login := c.botLogin
	c.mu.Unlock()
	if login != "" {
		return login, nil
	}
	slug := c.opts.appSlug
	if slug == "" {
		var app *github.App
		_, err := c.run(ctx, call{op: "read the GitHub App", send: func(ctx context.Context, _ *installation) (*github.Response, error) {
			req, err := c.app.NewRequest(ctx, http.MethodGet, "app", nil)
			if err != nil {
				return nil, err
			}
			return c.app.Do(req, &app)
		}})
		if err != nil {
			return "", err
		}
		slug = app.GetSlug()
		if slug == "" {
			return "", &Error{Op: "read the GitHub App", Kind: KindPermanent, Err: errors.New("GET /app returned no slug")}
		}
	}
	login = slug + "[bot]"
	c.mu.Lock()
	c.botLogin = login
	c.mu.Unlock()
	return login, nil
}

// Stats are counters of the requests a Client made.
type Stats struct {
	// Requests is every HTTP request sent (tokens included).
	Requests int64
	// NotModified counts 304 answers (free against the primary limit).
	NotModified int64
	// TokenRequests counts installation tokens minted.
	TokenRequests int64
	// ConfigCacheHits counts config lookups answered from the cache
	// without a request (within WithConfigCacheTTL).
	ConfigCacheHits int64
}

type stats struct {
	requests, notModified, tokens, cacheHits atomic.Int64
}

// Stats returns the request counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.stats.requests.Load(), NotModified: c.stats.notModified.Load(),
		TokenRequests: c.stats.tokens.Load(), ConfigCacheHits: c.stats.cacheHits.Load()}
}

type countingTransport struct {
	next http.RoundTripper
	s    *stats
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.s.requests.Add(1)
	if strings.HasSuffix(r.URL.Path, "/access_tokens") {
		t.s.tokens.Add(1)
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusNotModified {
		t.s.notModified.Add(1)
	}
	return resp, err
}
