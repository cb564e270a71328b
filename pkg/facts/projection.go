package facts

import (
	"cmp"
	"slices"
	"time"
)

// UnknownRepo is the repository name used for a fact without one.
const UnknownRepo = "unknown"

// Counts are per-type fact counters. Total counts every fact, including
// types this version does not know.
type Counts struct {
	Total            int64 `json:"total_events"`
	RequestAccepted  int64 `json:"request_accepted"`
	PlanCreated      int64 `json:"plan_created"`
	TargetQueued     int64 `json:"target_queued"`
	TargetDenied     int64 `json:"target_denied"`
	TriggerSucceeded int64 `json:"trigger_succeeded"`
	TriggerFailed    int64 `json:"trigger_failed"`
}

// Add counts one fact of type typ.
func (c *Counts) Add(typ string) {
	c.Total++
	switch typ {
	case TypeRequestAccepted:
		c.RequestAccepted++
	case TypePlanCreated:
		c.PlanCreated++
	case TypeTargetQueued:
		c.TargetQueued++
	case TypeTargetDenied:
		c.TargetDenied++
	case TypeTriggerSucceeded:
		c.TriggerSucceeded++
	case TypeTriggerFailed:
		c.TriggerFailed++
	}
}

// Merge adds o to c.
func (c *Counts) Merge(o Counts) {
	c.Total += o.Total
	c.RequestAccepted += o.RequestAccepted
	c.PlanCreated += o.PlanCreated
	c.TargetQueued += o.TargetQueued
	c.TargetDenied += o.TargetDenied
	c.TriggerSucceeded += o.TriggerSucceeded
	c.TriggerFailed += o.TriggerFailed
}

// Summary is the global read model: counters since the beginning, the time
// of the latest fact (it never moves backwards when facts arrive out of
// order) and the all-time latency histogram.
type Summary struct {
	Counts
	LastEventAt time.Time `json:"last_event_at,omitzero"`
	Latency     Histogram `json:"latency"`
}

// RepoStats are the counters of one source repository.
type RepoStats struct {
	Repo string `json:"repo"`
	Counts
	LastEventAt time.Time `json:"last_event_at,omitzero"`
}

// HourBucket holds the counters of the facts whose time falls in one UTC
// hour.
type HourBucket struct {
	Hour time.Time `json:"hour"`
	Counts
}

// MinuteKey identifies the per-minute counter of one repository.
type MinuteKey struct {
	Minute int64 // Unix seconds of the start of the UTC minute
	Repo   string
}

// RepoMinute counts the facts of one repository in one UTC minute; top
// repositories over 5, 15 or 60 minutes are the sums of these buckets over
// the real window.
type RepoMinute struct {
	Minute time.Time `json:"minute"`
	Repo   string    `json:"repo"`
	Count  int64     `json:"count"`
}

// Delivery statuses (Funnel.Status).
const (
	// DeliveryInProgress: not planned yet, or some queued targets have no
	// outcome yet.
	DeliveryInProgress = "in_progress"
	// DeliverySuccess: every queued target succeeded.
	DeliverySuccess = "success"
	// DeliveryFailed: every queued target failed.
	DeliveryFailed = "failed"
	// DeliveryPartial: every queued target has an outcome; some failed.
	DeliveryPartial = "partial"
	// DeliveryNoDispatch: planned, nothing to dispatch (the source was not
	// eligible or every target was denied).
	DeliveryNoDispatch = "no_dispatch"
)

// Funnel is the per-delivery read model. The "first" times are the
// earliest by fact time (not by processing order); LastEventAt is the
// latest.
type Funnel struct {
	DeliveryID     string `json:"delivery_id"`
	SourceRepo     string `json:"source_repo"`
	SourceWorkflow string `json:"source_workflow,omitempty"`
	SourceRunID    int64  `json:"source_run_id,omitempty"`
	RunAttempt     int    `json:"run_attempt,omitempty"`

	Accepted  int64 `json:"accepted"`
	Planned   int64 `json:"planned"`
	Queued    int64 `json:"queued"`
	Denied    int64 `json:"denied"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`

	Eligible   *bool  `json:"eligible,omitempty"`    // from the plan
	PlanReason string `json:"plan_reason,omitempty"` // source reason of a non-eligible plan
	LastError  string `json:"last_error,omitempty"`  // error of the latest failure

	FirstEventAt     time.Time `json:"first_event_at,omitzero"`
	LastEventAt      time.Time `json:"last_event_at,omitzero"`
	AcceptedAt       time.Time `json:"accepted_at,omitzero"`
	PlannedAt        time.Time `json:"planned_at,omitzero"`
	FirstSucceededAt time.Time `json:"first_succeeded_at,omitzero"`
	FirstFailedAt    time.Time `json:"first_failed_at,omitzero"`
	LastFailedAt     time.Time `json:"last_failed_at,omitzero"`

	Status         string   `json:"status"`
	LatencySeconds *float64 `json:"latency_seconds,omitempty"` // accepted → first success
}

// Latency is the time from the accepted request to the first successful
// trigger (never negative); ok is false until both are known.
func (f Funnel) Latency() (d time.Duration, ok bool) {
	if f.AcceptedAt.IsZero() || f.FirstSucceededAt.IsZero() {
		return 0, false
	}
	return max(f.FirstSucceededAt.Sub(f.AcceptedAt), 0), true
}

func (f Funnel) status() string {
	outcomes := f.Succeeded + f.Failed
	switch {
	case outcomes == 0 && f.Planned > 0 && f.Queued == 0:
		return DeliveryNoDispatch
	case outcomes == 0 || outcomes < f.Queued:
		return DeliveryInProgress
	case f.Failed == 0:
		return DeliverySuccess
	case f.Succeeded == 0:
		return DeliveryFailed
	default:
		return DeliveryPartial
	}
}

// Failure is one failed trigger, for the recent-failures list.
type Failure struct {
	EventID        string    `json:"event_id"`
	Time           time.Time `json:"time"`
	DeliveryID     string    `json:"delivery_id,omitempty"`
	SourceRepo     string    `json:"source_repo"`
	SourceWorkflow string    `json:"source_workflow,omitempty"`
	TargetRepo     string    `json:"target_repo,omitempty"`
	TargetWorkflow string    `json:"target_workflow,omitempty"`
	Attempts       int       `json:"attempts,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// State holds read models. A store keeps them as keyed rows and loads into
// a State only the rows that Touched names before calling Apply; an
// in-memory State with every row gives the same results.
type State struct {
	Summary     Summary
	Repos       map[string]RepoStats
	Hours       map[int64]HourBucket // key: HourKey
	RepoMinutes map[MinuteKey]RepoMinute
	Deliveries  map[string]Funnel
	// Latency holds one histogram per UTC hour in which the deliveries were
	// accepted (key: HourKey of Funnel.AcceptedAt).
	Latency  map[int64]Histogram
	Failures []Failure // appended by Apply, oldest first
}

// NewState returns an empty State.
func NewState() *State {
	s := &State{}
	s.init()
	return s
}

func (s *State) init() {
	if s.Repos == nil {
		s.Repos = map[string]RepoStats{}
	}
	if s.Hours == nil {
		s.Hours = map[int64]HourBucket{}
	}
	if s.RepoMinutes == nil {
		s.RepoMinutes = map[MinuteKey]RepoMinute{}
	}
	if s.Deliveries == nil {
		s.Deliveries = map[string]Funnel{}
	}
	if s.Latency == nil {
		s.Latency = map[int64]Histogram{}
	}
}

// HourKey is the key of the UTC hour holding t (Unix seconds of its start).
func HourKey(t time.Time) int64 { return t.UTC().Truncate(time.Hour).Unix() }

// MinuteOf is the key of the UTC minute holding t (Unix seconds of its start).
func MinuteOf(t time.Time) int64 { return t.UTC().Truncate(time.Minute).Unix() }

// RepoOf is the repository an event is counted under.
func RepoOf(e Event) string {
	if e.Data.SourceRepo != "" {
		return e.Data.SourceRepo
	}
	if e.Subject != "" {
		return e.Subject
	}
	return UnknownRepo
}

// Keys names the rows Apply reads and writes for one event.
type Keys struct {
	Repo     string
	Hour     int64
	Minute   MinuteKey
	Delivery string // "" when the event has no delivery id
	// LatencyHours are the latency histograms that may change: the hour of
	// the delivery's acceptance before the event and, for an accepted
	// fact, the hour of the event.
	LatencyHours []int64
}

// Touched returns the rows Apply(e) uses, given the delivery's funnel as
// stored before e (nil when there is none). The summary row is always used.
func Touched(e Event, before *Funnel) Keys {
	repo := RepoOf(e)
	k := Keys{Repo: repo, Hour: HourKey(e.Time), Minute: MinuteKey{MinuteOf(e.Time), repo}, Delivery: e.Data.DeliveryID}
	if k.Delivery == "" {
		return k
	}
	if before != nil && !before.AcceptedAt.IsZero() {
		k.LatencyHours = append(k.LatencyHours, HourKey(before.AcceptedAt))
	}
	if e.Type == TypeRequestAccepted && !slices.Contains(k.LatencyHours, HourKey(e.Time)) {
		k.LatencyHours = append(k.LatencyHours, HourKey(e.Time))
	}
	return k
}

// Apply updates s with one event. It is deterministic (no clock, no I/O):
// the result depends only on s and e. It does not deduplicate: the caller
// applies each event id once (the store does so by event id, in the same
// transaction). It returns the failure row the event added, if any.
func Apply(s *State, e Event) *Failure {
	s.init()
	t := e.Time.UTC()
	repo := RepoOf(e)

	s.Summary.Add(e.Type)
	s.Summary.LastEventAt = later(s.Summary.LastEventAt, t)

	rs := s.Repos[repo]
	rs.Repo = repo
	rs.Add(e.Type)
	rs.LastEventAt = later(rs.LastEventAt, t)
	s.Repos[repo] = rs

	hk := HourKey(t)
	hb := s.Hours[hk]
	hb.Hour = time.Unix(hk, 0).UTC()
	hb.Add(e.Type)
	s.Hours[hk] = hb

	mk := MinuteKey{MinuteOf(t), repo}
	rm := s.RepoMinutes[mk]
	rm.Minute, rm.Repo = time.Unix(mk.Minute, 0).UTC(), repo
	rm.Count++
	s.RepoMinutes[mk] = rm

	if id := e.Data.DeliveryID; id != "" {
		before, existed := s.Deliveries[id]
		after := applyFunnel(before, e, repo)
		s.Deliveries[id] = after
		s.moveLatency(before, existed, after)
	}

	if e.Type != TypeTriggerFailed {
		return nil
	}
	f := Failure{
		EventID: e.ID, Time: t, DeliveryID: e.Data.DeliveryID, SourceRepo: repo,
		SourceWorkflow: e.Data.SourceWorkflow, TargetRepo: e.Data.TargetRepo,
		TargetWorkflow: e.Data.TargetWorkflow, Attempts: e.Data.Attempts, Error: e.Data.Error,
	}
	s.Failures = append(s.Failures, f)
	return &f
}

// moveLatency keeps each delivery's latency in exactly one histogram
// observation: a correction (an earlier success processed late) removes
// the old observation and adds the new one.
func (s *State) moveLatency(before Funnel, existed bool, after Funnel) {
	oldD, oldOK := before.Latency()
	oldOK = oldOK && existed
	newD, newOK := after.Latency()
	oldH, newH := HourKey(before.AcceptedAt), HourKey(after.AcceptedAt)
	if oldOK == newOK && oldD == newD && oldH == newH {
		return
	}
	if oldOK {
		h := s.Latency[oldH]
		h.Remove(oldD)
		s.Latency[oldH] = h
		s.Summary.Latency.Remove(oldD)
	}
	if newOK {
		h := s.Latency[newH]
		h.Add(newD)
		s.Latency[newH] = h
		s.Summary.Latency.Add(newD)
	}
}

func applyFunnel(f Funnel, e Event, repo string) Funnel {
	t := e.Time.UTC()
	d := e.Data
	f.DeliveryID = d.DeliveryID
	if f.SourceRepo == "" || f.SourceRepo == UnknownRepo {
		f.SourceRepo = repo
	}
	if f.SourceWorkflow == "" || (e.Type == TypePlanCreated && d.SourceWorkflow != "") {
		f.SourceWorkflow = d.SourceWorkflow
	}
	if f.SourceRunID == 0 {
		f.SourceRunID = d.SourceRunID
	}
	if f.RunAttempt == 0 {
		f.RunAttempt = d.RunAttempt
	}
	f.FirstEventAt = earlier(f.FirstEventAt, t)
	f.LastEventAt = later(f.LastEventAt, t)
	switch e.Type {
	case TypeRequestAccepted:
		f.Accepted++
		f.AcceptedAt = earlier(f.AcceptedAt, t)
	case TypePlanCreated:
		f.Planned++
		if f.PlannedAt.IsZero() || t.Before(f.PlannedAt) {
			f.PlannedAt = t
			f.Eligible = d.Eligible
			f.PlanReason = d.Reason
		}
	case TypeTargetQueued:
		f.Queued++
	case TypeTargetDenied:
		f.Denied++
	case TypeTriggerSucceeded:
		f.Succeeded++
		f.FirstSucceededAt = earlier(f.FirstSucceededAt, t)
	case TypeTriggerFailed:
		f.Failed++
		if f.FirstFailedAt.IsZero() || !t.Before(f.LastFailedAt) {
			f.LastError = d.Error
		}
		f.FirstFailedAt = earlier(f.FirstFailedAt, t)
		f.LastFailedAt = later(f.LastFailedAt, t)
	}
	f.Status = f.status()
	f.LatencySeconds = nil
	if l, ok := f.Latency(); ok {
		f.LatencySeconds = ptr(roundMillis(l.Seconds()))
	}
	return f
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// FillHours returns n consecutive UTC hour buckets, oldest first, ending
// with the hour that holds end; hours without a stored bucket are zero.
func FillHours(end time.Time, n int, stored []HourBucket) []HourBucket {
	byKey := make(map[int64]HourBucket, len(stored))
	for _, b := range stored {
		byKey[HourKey(b.Hour)] = b
	}
	last := HourKey(end)
	out := make([]HourBucket, 0, max(n, 0))
	for i := n - 1; i >= 0; i-- {
		k := last - int64(i)*3600
		b, ok := byKey[k]
		if !ok {
			b = HourBucket{Hour: time.Unix(k, 0).UTC()}
		}
		out = append(out, b)
	}
	return out
}

// RepoCount is one row of the top-repositories list.
type RepoCount struct {
	Repo  string `json:"repo"`
	Count int64  `json:"count"`
}

// TopRepos sums per-minute buckets by repository and returns the limit
// busiest, by count descending then name.
func TopRepos(rows []RepoMinute, limit int) []RepoCount {
	sum := map[string]int64{}
	for _, r := range rows {
		sum[r.Repo] += r.Count
	}
	out := make([]RepoCount, 0, len(sum))
	for repo, c := range sum {
		out = append(out, RepoCount{repo, c})
	}
	slices.SortFunc(out, func(a, b RepoCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Repo, b.Repo))
	})
	if limit >= 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// MergeHistograms adds up histograms (e.g. the hours of a window).
func MergeHistograms(hs ...Histogram) Histogram {
	var out Histogram
	for _, h := range hs {
		out.Merge(h)
	}
	return out
}
