package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// Queue names of the embedded runtime.
const (
	RequestsQueue = pipeline.QueueRequests
	TargetsQueue  = pipeline.QueueTargets
)

// Defaults of the embedded runtime (see the With… options).
const (
	DefaultCleanupInterval     = 10 * time.Minute
	DefaultShutdownTimeout     = 15 * time.Second
	DefaultPlannerConcurrency  = 16
	DefaultDispatchConcurrency = 16
)

// HTTPTimeouts are the webhook server's timeouts (http.Server's fields of
// the same names).
type HTTPTimeouts struct {
	// ReadHeader bounds reading a request's headers.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included (a slow body is
	// cut off).
	Read time.Duration
	// Write bounds the time from the end of the headers to the end of the
	// answer: body, handler and answer. It must exceed Read plus the
	// handler's work.
	Write time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request.
	Idle time.Duration
}

// DefaultHTTPTimeouts: the webhook handler only verifies, enqueues (one
// SQLite commit) and answers, and GitHub itself gives up on a delivery
// after 10 seconds, so these never cut off a delivery GitHub still waits
// for. Write is Read plus 30 seconds for the handler and the answer.
var DefaultHTTPTimeouts = HTTPTimeouts{
	ReadHeader: 10 * time.Second,
	Read:       60 * time.Second,
	Write:      90 * time.Second,
	Idle:       120 * time.Second,
}

// Option tunes NewLocal. The defaults suit production; tests shorten the
// timings.
type Option func(*options)

type options struct {
	now             func() time.Time
	httpClient      *http.Client
	ghOpts          []ghapp.Option
	wrapPorts       func(*Ports)
	claimLease      time.Duration
	cleanupInterval time.Duration
	shutdownTimeout time.Duration
	plannerConc     int
	dispatchConc    int
	worker          local.WorkerOptions
	store           local.Options
	httpTimeouts    HTTPTimeouts
	applyHook       ApplyHook
}

// WithClock sets the clock of the store and the stages (time.Now by
// default).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithHTTPClient sets the HTTP client of the GitHub adapter.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithGitHubOptions adds options to the GitHub adapter (after the ones
// derived from the settings, so they win).
func WithGitHubOptions(opts ...ghapp.Option) Option {
	return func(o *options) { o.ghOpts = append(o.ghOpts, opts...) }
}

// WithPorts lets the caller replace or wrap ports after NewLocal built them
// and before the stages are wired: instrumentation, or fault injection in
// tests (a Claims whose Complete fails, an Enqueuer that crashes).
func WithPorts(f func(*Ports)) Option { return func(o *options) { o.wrapPorts = f } }

// WithClaimLease sets the dispatcher's claim lease (by default twice
// QUEUE_VISIBILITY_TIMEOUT; see ServeClaimLease).
func WithClaimLease(d time.Duration) Option { return func(o *options) { o.claimLease = d } }

// WithCleanupInterval sets how often Store.Cleanup runs
// (DefaultCleanupInterval); it also runs once at startup.
func WithCleanupInterval(d time.Duration) Option { return func(o *options) { o.cleanupInterval = d } }

// WithShutdownTimeout bounds how long Run waits for in-flight HTTP requests
// at shutdown (DefaultShutdownTimeout).
func WithShutdownTimeout(d time.Duration) Option { return func(o *options) { o.shutdownTimeout = d } }

// WithConcurrency sets how many requests the planner and how many work
// items the dispatcher handle at once (PLANNER_CONCURRENCY and
// DISPATCHER_CONCURRENCY, 16 each by default).
func WithConcurrency(planner, dispatcher int) Option {
	return func(o *options) { o.plannerConc, o.dispatchConc = planner, dispatcher }
}

// WithWorkerTimings sets the queue workers' idle check, drain timeout and
// retry delay (zero values keep local.RunWorker's defaults).
func WithWorkerTimings(idleCheck, drain time.Duration, retryDelay func(receiveCount int, err error) time.Duration) Option {
	return func(o *options) {
		o.worker.IdleCheck, o.worker.DrainTimeout, o.worker.RetryDelay = idleCheck, drain, retryDelay
	}
}

// ApplyHook sees the effects of every step of the embedded runtime before
// they are applied (ingress, planner and dispatcher steps, and settlements
// without effects). It may change them, or return an error, which fails
// the step as a failed commit would: the fault injection of the crash
// tests.
type ApplyHook func(ctx context.Context, e *pipeline.Effects) error

// WithApplyHook installs an ApplyHook (tests only).
func WithApplyHook(h ApplyHook) Option { return func(o *options) { o.applyHook = h } }

// hookedStore applies through the store after the ApplyHook.
type hookedStore struct {
	*local.Store
	hook ApplyHook
}

// Apply implements pipeline.Applier.
func (h hookedStore) Apply(ctx context.Context, e pipeline.Effects) error {
	return h.ApplyStep(ctx, e, nil)
}

// ApplyStep implements local.StepApplier.
func (h hookedStore) ApplyStep(ctx context.Context, e pipeline.Effects, settle *local.Settle) error {
	if err := h.hook(ctx, &e); err != nil {
		return err
	}
	return h.Store.ApplyStep(ctx, e, settle)
}

// WithHTTPTimeouts sets the webhook server's timeouts; zero fields keep
// DefaultHTTPTimeouts.
func WithHTTPTimeouts(t HTTPTimeouts) Option { return func(o *options) { o.httpTimeouts = t } }

// WithStoreOptions sets store options that have no environment variable
// (synchronous mode, retention, TTLs). Clock, VisibilityTimeout,
// MaxReceives and ReplayWindow always come from WithClock and the
// settings.
func WithStoreOptions(so local.Options) Option { return func(o *options) { o.store = so } }

// ServeClaimLease is the claim lease of the embedded runtime: twice the
// visibility timeout. The workers bound every handler call by the
// visibility timeout (its context ends then, and the GitHub client gives up
// rather than wait past it), so an attempt that took a claim has certainly
// ended when the lease is over; the second half is the margin for GitHub to
// list a run dispatched at the last moment. With the default 30s the lease
// is a minute instead of pipeline.DefaultClaimLease (5 minutes), so a work
// item whose process died between claim and POST is dispatched about a
// minute after the restart.
func ServeClaimLease(visibility time.Duration) time.Duration {
	if visibility <= 0 {
		return pipeline.DefaultClaimLease
	}
	return 2 * visibility
}

// Local is dispatcher on one machine: the SQLite store, the GitHub App
// client, the stages, the HTTP server and the two queue workers.
type Local struct {
	settings *settings.Settings
	info     BuildInfo
	log      *slog.Logger
	opts     options

	// Store is the embedded store (admin reads, DLQ tools). Run closes it.
	Store *local.Store
	// GitHub is the App client.
	GitHub *ghapp.Client
	// Stages are the wired stages; Stages.HTTP is the handler Run serves.
	Stages *Stages

	closeOnce sync.Once
	closeErr  error
}

// NewLocal opens the store at s.DBPath, builds the GitHub App client and
// wires the stages. s must be complete for serve
// (s.MissingFor(settings.ModeServe) empty). A bad private key is a
// *ConfigError. Call Run to serve, or Close to release the store without
// serving.
func NewLocal(ctx context.Context, s *settings.Settings, info BuildInfo, logger *slog.Logger, opts ...Option) (*Local, error) {
	if s == nil {
		return nil, errors.New("app: settings are required")
	}
	if err := s.MissingError(settings.ModeServe); err != nil {
		return nil, &ConfigError{Err: err}
	}
	if logger == nil {
		logger = slog.Default()
	}
	o := options{cleanupInterval: DefaultCleanupInterval, shutdownTimeout: DefaultShutdownTimeout,
		plannerConc: s.PlannerConcurrency, dispatchConc: s.DispatcherConcurrency}
	if o.plannerConc <= 0 {
		o.plannerConc = DefaultPlannerConcurrency
	}
	if o.dispatchConc <= 0 {
		o.dispatchConc = DefaultDispatchConcurrency
	}
	for _, opt := range opts {
		opt(&o)
	}
	key, err := PrivateKey(s)
	if err != nil {
		return nil, err
	}
	ghOpts := []ghapp.Option{
		ghapp.WithMaxRetries(s.DispatchMaxRetries),
		ghapp.WithBaseDelay(s.RetryBaseDelay),
		ghapp.WithUserAgent("dispatcher/" + info.Version),
		ghapp.WithWritesPerMinute(s.GitHubWritesPerMinute),
		ghapp.WithConfigCacheTTL(s.ConfigCacheTTL),
	}
	if s.GitHubAPIURL != "" {
		ghOpts = append(ghOpts, ghapp.WithBaseURL(s.GitHubAPIURL+"/"))
	}
	if o.httpClient != nil {
		ghOpts = append(ghOpts, ghapp.WithHTTPClient(o.httpClient))
	}
	gh, err := ghapp.New(s.GitHubAppID, key, append(ghOpts, o.ghOpts...)...)
	if err != nil {
		if errors.Is(err, ghapp.ErrBadPrivateKey) {
			return nil, &ConfigError{Err: fmt.Errorf("GitHub App private key: %w", err)}
		}
		return nil, fmt.Errorf("github client: %w", err)
	}

	so := o.store
	so.Clock = o.now
	so.VisibilityTimeout = s.QueueVisibilityTimeout
	so.MaxReceives = s.QueueMaxReceives
	so.ReplayWindow = s.ReplayWindow
	so.Create = true
	so.BackgroundCheckpoint = true
	store, err := local.Open(ctx, s.DBPath, so)
	if err != nil {
		return nil, err
	}
	var apply local.StepApplier = store
	if o.applyHook != nil {
		apply = hookedStore{Store: store, hook: o.applyHook}
	}
	o.worker.Apply = apply
	ports := Ports{
		Apply:    apply,
		Requests: store.Queue(RequestsQueue), Targets: store.Queue(TargetsQueue),
		Replay: store.ReplayGuard(), Facts: store, Claims: store, Lineage: store, Outcomes: store,
		GitHub: gh, Issues: gh,
	}
	if o.wrapPorts != nil {
		o.wrapPorts(&ports)
	}
	lease := o.claimLease
	if lease <= 0 {
		lease = ServeClaimLease(s.QueueVisibilityTimeout)
	}
	stages, err := BuildStages(s, ports, StageOptions{Build: info, Now: o.now, Logger: logger, ClaimLease: lease,
		Admin: store.AdminView(RequestsQueue, TargetsQueue)})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &Local{settings: s, info: info, log: logger, opts: o, Store: store, GitHub: gh, Stages: stages}, nil
}

// Run serves HTTP on ln and runs the requests worker (planner) and the
// targets worker (dispatcher) until ctx is done, then shuts down
// gracefully: the listener stops accepting and in-flight requests finish
// (http.Server.Shutdown, at most the shutdown timeout); the workers stop
// receiving, let in-flight handlers finish for their drain timeout and give
// every other message back to its queue; finally the store is closed. A
// message whose handler was cut off mid-way (or a process killed with
// SIGKILL) is received again later; the stages are idempotent. Run returns
// nil after a shutdown caused by ctx, or the error that stopped the server.
func (l *Local) Run(ctx context.Context, ln net.Listener) error {
	defer l.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	l.log.Info("dispatcher serving",
		"addr", ln.Addr().String(), "db", l.Store.Path(), "version", l.info.Version, "commit", l.info.Commit,
		"github_api", l.githubAPI(), "create_issues", l.settings.CreateIssues,
		"visibility_timeout", l.settings.QueueVisibilityTimeout.String(), "max_receives", l.settings.QueueMaxReceives)

	l.Stages.HTTP.ListeningOn(ln.Addr())
	hs := newHTTPServer(ctx, l.Stages.HTTP, l.log, l.opts.httpTimeouts)
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
		stop() // a failed listener stops everything
	}()

	worker := func(name string, conc int, handle local.Handler) {
		wo := l.opts.worker
		wo.Concurrency = conc
		wo.Visibility = l.settings.QueueVisibilityTimeout
		wo.Logger = l.log
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Store.RunWorker(runCtx, name, handle, wo); err != nil {
				l.log.Error("worker stopped", "queue", name, "error", err)
				stop()
			}
		}()
	}
	worker(RequestsQueue, l.opts.plannerConc, func(ctx context.Context, m pipeline.Message) pipeline.Step {
		return l.Stages.Planner.Plan(ctx, m.Body, m.Delivery())
	})
	worker(TargetsQueue, l.opts.dispatchConc, func(ctx context.Context, m pipeline.Message) pipeline.Step {
		return l.Stages.Dispatcher.Dispatch(ctx, m.Body, m.Delivery())
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.Store.RunCheckpointer(runCtx, time.Second, func(err error) { l.log.Warn("WAL checkpoint failed; retrying", "error", err) })
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Projections are folded behind the hot path; a fold that fails is
		// retried at the next wake-up.
		l.Store.RunFolder(runCtx, time.Second, func(err error) { l.log.Warn("projection fold failed; retrying", "error", err) })
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		l.cleanupLoop(runCtx)
	}()

	<-runCtx.Done()
	l.log.Info("shutting down: no new webhooks; finishing in-flight work")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		l.log.Warn("HTTP shutdown timed out; closing open connections", "error", err)
		hs.Close()
	}
	err := <-serveErr
	wg.Wait()
	if cerr := l.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		l.log.Error("dispatcher stopped", "error", err)
		return fmt.Errorf("serve: %w", err)
	}
	l.log.Info("dispatcher stopped")
	return nil
}

// MaxHeaderBytes bounds a request's headers (net/http's default is 1 MiB).
// A webhook's are about 1 KiB; proxies add a few more.
const MaxHeaderBytes = 64 << 10

// newHTTPServer is serve's HTTP server. Requests outlive ctx: Shutdown
// waits for them.
func newHTTPServer(ctx context.Context, h http.Handler, log *slog.Logger, t HTTPTimeouts) *http.Server {
	d := DefaultHTTPTimeouts
	if t.ReadHeader > 0 {
		d.ReadHeader = t.ReadHeader
	}
	if t.Read > 0 {
		d.Read = t.Read
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: d.ReadHeader,
		ReadTimeout:       d.Read,
		WriteTimeout:      d.Write,
		IdleTimeout:       d.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

func (l *Local) githubAPI() string {
	if l.settings.GitHubAPIURL != "" {
		return l.settings.GitHubAPIURL
	}
	return ghapp.DefaultBaseURL
}

// cleanupLoop runs Store.Cleanup at startup and then every interval until
// ctx is done.
func (l *Local) cleanupLoop(ctx context.Context) {
	clean := func() {
		st, err := l.Store.Cleanup(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Warn("store cleanup failed", "error", err)
		case err == nil:
			l.log.Debug("store cleanup", "replay_ids", st.ReplayIDs, "dedup_ids", st.DedupIDs, "claims", st.Claims,
				"lineage", st.Lineage, "outcomes", st.Outcomes, "events", st.Events, "projections", st.Projections)
		}
	}
	clean()
	if l.opts.cleanupInterval <= 0 {
		return
	}
	t := time.NewTicker(l.opts.cleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			clean()
		}
	}
}

// Close closes the store. Run calls it; call it yourself only when Run is
// never called. It is safe to call more than once.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		if err := l.Store.Close(); err != nil {
			l.closeErr = fmt.Errorf("close store: %w", err)
		}
	})
	return l.closeErr
}
