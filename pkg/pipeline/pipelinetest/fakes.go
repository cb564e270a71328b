// Package pipelinetest holds hand-written in-memory fakes of every port of
// package pipeline, for the stage tests and for tests that wire stages
// together. Every fake is safe for concurrent use, records what it was
// asked, and lets a test inject failures.
package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Compile-time checks.
var (
	_ pipeline.Enqueuer      = (*Queue)(nil)
	_ pipeline.ReplayGuard   = (*ReplayGuard)(nil)
	_ pipeline.FactPublisher = (*Facts)(nil)
	_ pipeline.Claims        = (*Claims)(nil)
	_ pipeline.Lineage       = (*Lineage)(nil)
	_ pipeline.GitHub        = (*GitHub)(nil)
	_ pipeline.IssueCreator  = (*Issues)(nil)
	_ pipeline.Outcomes      = (*Outcomes)(nil)
)

// Clock is a settable clock. The zero value starts at 2026-01-02T03:04:05Z.
type Clock struct {
	mu  sync.Mutex
	t   time.Time
	set bool
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t, set: true} }

// Now returns the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.set {
		c.t, c.set = epoch, true
	}
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.Now()
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ---------------------------------------------------------------------------

// QueuedMessage is a message held by a Queue.
type QueuedMessage struct {
	ID           string
	DedupID      string
	Body         []byte
	ReceiveCount int
	VisibleAt    time.Time
	LastErr      string
	inflight     string // current receipt handle
}

// Queue is an in-memory queue with visibility timeouts, receive counts and
// a dead-letter list. It implements pipeline.Enqueuer and
// pipeline.Consumer. Visibility uses Now (time.Now when nil).
type Queue struct {
	// Now is the queue's clock; time.Now when nil.
	Now func() time.Time
	// Dedup drops an Enqueue whose dedup id was enqueued before (like a
	// FIFO queue); off by default, as on an SQS standard queue.
	Dedup bool
	// EnqueueErr, when set, is called before each Enqueue; a non-nil
	// result fails it.
	EnqueueErr func(dedupID string, body []byte) error

	mu       sync.Mutex
	seq      int
	msgs     []*QueuedMessage
	dead     []QueuedMessage
	acked    []QueuedMessage
	dedup    map[string]bool
	enqueues int
}

func (q *Queue) now() time.Time {
	if q.Now == nil {
		return time.Now()
	}
	return q.Now()
}

// Enqueue implements pipeline.Enqueuer.
func (q *Queue) Enqueue(ctx context.Context, dedupID string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if q.EnqueueErr != nil {
		if err := q.EnqueueErr(dedupID, body); err != nil {
			return err
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueues++
	if q.Dedup {
		if q.dedup[dedupID] {
			return nil
		}
		if q.dedup == nil {
			q.dedup = map[string]bool{}
		}
		q.dedup[dedupID] = true
	}
	q.seq++
	q.msgs = append(q.msgs, &QueuedMessage{ID: "m" + strconv.Itoa(q.seq), DedupID: dedupID, Body: slices.Clone(body)})
	return nil
}

// Receive implements pipeline.Consumer. It never waits.
func (q *Queue) Receive(ctx context.Context, max int, visibility time.Duration) ([]pipeline.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	var out []pipeline.Message
	for _, m := range q.msgs {
		if len(out) >= max {
			break
		}
		if m.VisibleAt.After(now) {
			continue
		}
		m.ReceiveCount++
		m.VisibleAt = now.Add(visibility)
		q.seq++
		m.inflight = m.ID + "/" + strconv.Itoa(q.seq)
		out = append(out, pipeline.Message{ID: m.ID, Handle: m.inflight, Body: slices.Clone(m.Body), ReceiveCount: m.ReceiveCount})
	}
	return out, nil
}

func (q *Queue) take(handle string) (*QueuedMessage, int, error) {
	for i, m := range q.msgs {
		if m.inflight == handle {
			return m, i, nil
		}
	}
	return nil, -1, fmt.Errorf("unknown or stale receipt handle %q", handle)
}

// Ack implements pipeline.Consumer.
func (q *Queue) Ack(_ context.Context, handle string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, i, err := q.take(handle)
	if err != nil {
		return err
	}
	q.msgs = slices.Delete(q.msgs, i, i+1)
	q.acked = append(q.acked, *m)
	return nil
}

// Retry implements pipeline.Consumer.
func (q *Queue) Retry(_ context.Context, handle string, delay time.Duration, lastErr error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, _, err := q.take(handle)
	if err != nil {
		return err
	}
	m.inflight = ""
	m.VisibleAt = q.now().Add(delay)
	if lastErr != nil {
		m.LastErr = lastErr.Error()
	}
	return nil
}

// DeadLetter implements pipeline.Consumer.
func (q *Queue) DeadLetter(_ context.Context, handle string, lastErr error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, i, err := q.take(handle)
	if err != nil {
		return err
	}
	q.msgs = slices.Delete(q.msgs, i, i+1)
	if lastErr != nil {
		m.LastErr = lastErr.Error()
	}
	q.dead = append(q.dead, *m)
	return nil
}

// Redrive moves every dead-lettered message back to the queue with a
// receive count of 0 (what replay-dlq does).
func (q *Queue) Redrive() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.dead)
	for _, m := range q.dead {
		m.ReceiveCount, m.VisibleAt, m.inflight = 0, time.Time{}, ""
		q.msgs = append(q.msgs, &m)
	}
	q.dead = nil
	return n
}

// Pending returns the messages still in the queue (visible or not).
func (q *Queue) Pending() []QueuedMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]QueuedMessage, len(q.msgs))
	for i, m := range q.msgs {
		out[i] = *m
	}
	return out
}

// Bodies returns the bodies of the pending messages, in enqueue order.
func (q *Queue) Bodies() [][]byte {
	var out [][]byte
	for _, m := range q.Pending() {
		out = append(out, m.Body)
	}
	return out
}

// Dead returns the dead-lettered messages.
func (q *Queue) Dead() []QueuedMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.dead)
}

// Acked returns the acknowledged messages.
func (q *Queue) Acked() []QueuedMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.acked)
}

// Enqueues is the number of successful Enqueue calls (deduplicated ones
// included).
func (q *Queue) Enqueues() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.enqueues
}

// ---------------------------------------------------------------------------

// ReplayGuard remembers delivery ids for Window (10 minutes when 0), by
// Now (time.Now when nil).
type ReplayGuard struct {
	Window    time.Duration
	Now       func() time.Time
	SeenErr   error // when set, Seen fails
	RecordErr error // when set, Record fails

	mu      sync.Mutex
	ids     map[string]time.Time
	records int
}

func (g *ReplayGuard) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

// Seen implements pipeline.ReplayGuard.
func (g *ReplayGuard) Seen(_ context.Context, id string) (bool, error) {
	if g.SeenErr != nil {
		return false, g.SeenErr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.ids[id]
	w := g.Window
	if w == 0 {
		w = 10 * time.Minute
	}
	return ok && g.now().Sub(at) < w, nil
}

// Record implements pipeline.ReplayGuard.
func (g *ReplayGuard) Record(_ context.Context, id string) error {
	if g.RecordErr != nil {
		return g.RecordErr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ids == nil {
		g.ids = map[string]time.Time{}
	}
	g.ids[id] = g.now()
	g.records++
	return nil
}

// Recorded reports whether id was recorded (at any time).
func (g *ReplayGuard) Recorded(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.ids[id]
	return ok
}

// ---------------------------------------------------------------------------

// Facts is a fact store that keeps every published event and applies each
// id once.
type Facts struct {
	// Err, when set, is called before each Publish; a non-nil result fails
	// it (nothing is stored).
	Err func(events []facts.Event) error

	mu     sync.Mutex
	all    []facts.Event
	unique []facts.Event
	ids    map[string]bool
}

// Publish implements pipeline.FactPublisher.
func (f *Facts) Publish(_ context.Context, events ...facts.Event) error {
	if f.Err != nil {
		if err := f.Err(events); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	for _, e := range events {
		f.all = append(f.all, e)
		if !f.ids[e.ID] {
			f.ids[e.ID] = true
			f.unique = append(f.unique, e)
		}
	}
	return nil
}

// All returns every published event, duplicates included.
func (f *Facts) All() []facts.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.all)
}

// Unique returns the applied events (each id once), in first-seen order.
func (f *Facts) Unique() []facts.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.unique)
}

// OfType returns the applied events of type typ.
func (f *Facts) OfType(typ string) []facts.Event {
	var out []facts.Event
	for _, e := range f.Unique() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many applied events have type typ.
func (f *Facts) Count(typ string) int { return len(f.OfType(typ)) }

// ---------------------------------------------------------------------------

// Claims is an in-memory idempotency store.
type Claims struct {
	ClaimErr    error // when set, Claim fails
	CompleteErr error // when set, Complete fails
	ReleaseErr  error // when set, Release fails

	mu       sync.Mutex
	m        map[string]pipeline.Claim
	releases int
}

// Claim implements pipeline.Claims.
func (c *Claims) Claim(_ context.Context, key string, now time.Time) (pipeline.Claim, error) {
	if c.ClaimErr != nil {
		return pipeline.Claim{}, c.ClaimErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]pipeline.Claim{}
	}
	if cl, ok := c.m[key]; ok {
		return cl, nil
	}
	c.m[key] = pipeline.Claim{State: pipeline.ClaimInProgress, ClaimedAt: now}
	return pipeline.Claim{State: pipeline.ClaimAcquired, ClaimedAt: now}, nil
}

// TakeOver implements pipeline.Claims.
func (c *Claims) TakeOver(_ context.Context, key string, leasedAt, now time.Time) (bool, error) {
	if c.ClaimErr != nil {
		return false, c.ClaimErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[key]
	if !ok || cl.State != pipeline.ClaimInProgress {
		return false, nil
	}
	cur := cl.LeasedAt
	if cur.IsZero() {
		cur = cl.ClaimedAt
	}
	if !cur.Equal(leasedAt) {
		return false, nil
	}
	cl.LeasedAt = now
	c.m[key] = cl
	return true, nil
}

// Complete implements pipeline.Claims.
func (c *Claims) Complete(_ context.Context, key string, result pipeline.DispatchResult) error {
	if c.CompleteErr != nil {
		return c.CompleteErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[key]
	if !ok {
		return fmt.Errorf("complete %q: no claim", key)
	}
	cl.State, cl.Result = pipeline.ClaimDone, result
	c.m[key] = cl
	return nil
}

// Release implements pipeline.Claims: it deletes the record of key only
// while it is in progress with the lease leasedAt.
func (c *Claims) Release(_ context.Context, key string, leasedAt time.Time) (bool, error) {
	if c.ReleaseErr != nil {
		return false, c.ReleaseErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[key]
	if !ok || cl.State != pipeline.ClaimInProgress {
		return false, nil
	}
	cur := cl.LeasedAt
	if cur.IsZero() {
		cur = cl.ClaimedAt
	}
	if !cur.Equal(leasedAt) {
		return false, nil
	}
	delete(c.m, key)
	c.releases++
	return true, nil
}

// Set forces the record of key (e.g. an in-progress claim left by a crash).
func (c *Claims) Set(key string, cl pipeline.Claim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]pipeline.Claim{}
	}
	c.m[key] = cl
}

// Get returns the record of key.
func (c *Claims) Get(key string) (pipeline.Claim, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[key]
	return cl, ok
}

// Releases is the number of Release calls that removed a claim.
func (c *Claims) Releases() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.releases
}

// ---------------------------------------------------------------------------

// Lineage is an in-memory lineage store (keys are case-insensitive).
type Lineage struct {
	RecordErr error // when set, RecordRun fails
	ChainErr  error // when set, ChainOf fails

	mu sync.Mutex
	m  map[string][]plan.ChainLink
}

func lineageKey(repo string, id int64) string {
	return strings.ToLower(repo) + "#" + strconv.FormatInt(id, 10)
}

// RecordRun implements pipeline.Lineage.
func (l *Lineage) RecordRun(_ context.Context, repository string, runID int64, chain []plan.ChainLink) error {
	if l.RecordErr != nil {
		return l.RecordErr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]plan.ChainLink{}
	}
	l.m[lineageKey(repository, runID)] = slices.Clone(chain)
	return nil
}

// ChainOf implements pipeline.Lineage.
func (l *Lineage) ChainOf(_ context.Context, repository string, runID int64) ([]plan.ChainLink, error) {
	if l.ChainErr != nil {
		return nil, l.ChainErr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.m[lineageKey(repository, runID)]), nil
}

// ---------------------------------------------------------------------------

// GitHub is a scripted GitHub.
type GitHub struct {
	// Configs maps "owner/name" (case-insensitive) to the result of
	// reading its dispatching.yml; a repository not listed is
	// ConfigMissing.
	ConfigResults map[string]plan.ConfigResult
	// DispatchFunc answers Dispatch; when nil every dispatch succeeds
	// with run id 1000+n and URLs derived from it.
	DispatchFunc func(n int, req pipeline.DispatchRequest) (pipeline.DispatchResult, error)
	// FindFunc answers FindDispatchedRun; when nil it finds a run that
	// this fake dispatched to repository/workflow, if any.
	FindFunc func(repository, workflow string, since time.Time) (pipeline.DispatchResult, bool, error)

	mu         sync.Mutex
	dispatches []pipeline.DispatchRequest
	results    map[string]pipeline.DispatchResult
	finds      int
	lookups    int
}

// Configs implements pipeline.GitHub.
func (g *GitHub) Configs(installationID int64) plan.ConfigLookup { return configLookup{g} }

type configLookup struct{ g *GitHub }

func (c configLookup) Lookup(_ context.Context, repository string) plan.ConfigResult {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	c.g.lookups++
	for k, v := range c.g.ConfigResults {
		if strings.EqualFold(k, repository) {
			return v
		}
	}
	return plan.ConfigResult{Status: plan.ConfigMissing}
}

// ReadConfigs implements pipeline.GitHub: the source's result, the
// lookup, and an error when the source or a target targetsOf names is
// plan.ConfigUnavailable (a transient failure).
func (g *GitHub) ReadConfigs(ctx context.Context, _ int64, source string, targetsOf func(plan.ConfigResult) []string) (plan.ConfigResult, plan.ConfigLookup, error) {
	l := configLookup{g}
	src := l.Lookup(ctx, source)
	repos := []string{source}
	if targetsOf != nil {
		repos = append(repos, targetsOf(src)...)
	}
	var bad []string
	for _, r := range repos {
		if res := l.Lookup(ctx, r); res.Status == plan.ConfigUnavailable {
			bad = append(bad, r+": "+res.Problem)
		}
	}
	if len(bad) > 0 {
		return src, l, fmt.Errorf("%w: dispatching.yml unavailable: %s", ErrInjected, strings.Join(bad, ", "))
	}
	return src, l, nil
}

// Dispatch implements pipeline.GitHub.
func (g *GitHub) Dispatch(ctx context.Context, req pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
	if err := ctx.Err(); err != nil {
		return pipeline.DispatchResult{}, err
	}
	g.mu.Lock()
	g.dispatches = append(g.dispatches, req)
	n := len(g.dispatches)
	f := g.DispatchFunc
	g.mu.Unlock()
	var res pipeline.DispatchResult
	var err error
	if f != nil {
		res, err = f(n, req)
	} else {
		id := int64(1000 + n)
		res = pipeline.DispatchResult{Attempts: 1, RunID: id,
			RunURL:  fmt.Sprintf("https://api.github.test/repos/%s/actions/runs/%d", req.Repository, id),
			HTMLURL: fmt.Sprintf("https://github.test/%s/actions/runs/%d", req.Repository, id)}
	}
	if err == nil {
		g.mu.Lock()
		if g.results == nil {
			g.results = map[string]pipeline.DispatchResult{}
		}
		g.results[strings.ToLower(req.Repository+"#"+req.Workflow)] = res
		g.mu.Unlock()
	}
	return res, err
}

// FindDispatchedRun implements pipeline.GitHub.
func (g *GitHub) FindDispatchedRun(_ context.Context, _ int64, repository, workflow string, since time.Time) (pipeline.DispatchResult, bool, error) {
	g.mu.Lock()
	g.finds++
	f := g.FindFunc
	res, ok := g.results[strings.ToLower(repository+"#"+workflow)]
	g.mu.Unlock()
	if f != nil {
		return f(repository, workflow, since)
	}
	return res, ok, nil
}

// Lookups is the number of config reads.
func (g *GitHub) Lookups() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lookups
}

// Dispatches returns every Dispatch call, failed ones included.
func (g *GitHub) Dispatches() []pipeline.DispatchRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.dispatches)
}

// Finds is the number of FindDispatchedRun calls.
func (g *GitHub) Finds() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.finds
}

// DispatchError is an adapter-like dispatch error for scripts.
type DispatchError struct {
	Status      int    // HTTP status GitHub answered; 0 for a network error
	Message     string // GitHub's message
	Tries       int    // calls made
	IsPermanent bool   // 404, 422, ...
	// NotSent says the request certainly did not create a run.
	NotSent bool
}

// Error returns the message (it implements error).
func (e *DispatchError) Error() string {
	if e.Status == 0 {
		return "dispatch: " + e.Message
	}
	return fmt.Sprintf("dispatch: HTTP %d: %s", e.Status, e.Message)
}

// Permanent implements the pipeline.IsPermanent contract.
func (e *DispatchError) Permanent() bool { return e.IsPermanent }

// Ambiguous implements the pipeline.IsAmbiguous contract.
func (e *DispatchError) Ambiguous() bool { return !e.NotSent }

// Attempts reports the calls made.
func (e *DispatchError) Attempts() int { return e.Tries }

// ---------------------------------------------------------------------------

// Issue is an issue created through Issues.
type Issue struct {
	InstallationID int64
	Repository     string
	Title, Body    string
}

// Issues records created issues.
type Issues struct {
	Err error // when set, CreateIssue fails

	mu     sync.Mutex
	issues []Issue
}

// CreateIssue implements pipeline.IssueCreator.
func (i *Issues) CreateIssue(_ context.Context, installationID int64, repository, title, body string) error {
	if i.Err != nil {
		return i.Err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.issues = append(i.issues, Issue{installationID, repository, title, body})
	return nil
}

// Created returns the created issues.
func (i *Issues) Created() []Issue {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.issues)
}

// ---------------------------------------------------------------------------

// Outcomes is an in-memory outcome store.
type Outcomes struct {
	Err error // when set, Put fails

	mu sync.Mutex
	m  map[string]map[int]pipeline.Outcome
}

// Put implements pipeline.Outcomes.
func (o *Outcomes) Put(_ context.Context, deliveryID string, out pipeline.Outcome) ([]pipeline.Outcome, error) {
	if o.Err != nil {
		return nil, o.Err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]map[int]pipeline.Outcome{}
	}
	if o.m[deliveryID] == nil {
		o.m[deliveryID] = map[int]pipeline.Outcome{}
	}
	o.m[deliveryID][out.Index] = out
	var all []pipeline.Outcome
	for _, v := range o.m[deliveryID] {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b pipeline.Outcome) int { return a.Index - b.Index })
	return all, nil
}

// ErrInjected is a ready-made error for fault injection.
var ErrInjected = errors.New("injected failure")
