package facts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Status is the status of a health check or of the whole report.
type Status string

// Health statuses, ranked unknown < green < amber < red for the overall
// status.
const (
	StatusUnknown Status = "unknown"
	StatusGreen   Status = "green"
	StatusAmber   Status = "amber"
	StatusRed     Status = "red"
)

func (s Status) rank() int {
	switch s {
	case StatusGreen:
		return 1
	case StatusAmber:
		return 2
	case StatusRed:
		return 3
	}
	return 0
}

// Check ids of the health report.
const (
	CheckEventsSeen         = "events_seen"
	CheckEventRecency       = "event_recency"
	CheckTriggerSuccessRate = "trigger_success_rate"
	CheckPlanningBacklog    = "planning_backlog"
	CheckDispatchBacklog    = "dispatch_backlog"
	CheckEndToEndLatency    = "end_to_end_latency"
	CheckQueueBacklog       = "queue_backlog"
	CheckDeadLetters        = "dead_letters"
	CheckFoldLag            = "projection_fold_lag"
)

// QueueDepth is the state of one work queue and of its dead-letter queue.
type QueueDepth struct {
	// Name is the queue's name ("requests", "targets").
	Name string `json:"name"`
	// Visible counts the messages ready to be received (the backlog).
	Visible int64 `json:"visible"`
	// InFlight counts the messages received and not yet acknowledged, or
	// waiting for a delayed retry.
	InFlight int64 `json:"in_flight"`
	// DeadLetters counts the messages in the queue's DLQ.
	DeadLetters int64 `json:"dead_letters"`
	// OldestVisibleAt is when the oldest visible message was first
	// enqueued (zero when none is visible).
	OldestVisibleAt time.Time `json:"oldest_visible_at,omitzero"`
}

// FoldLag says how far the projections are behind the recorded facts.
type FoldLag struct {
	// Pending is the number of recorded facts not yet folded into the
	// projections.
	Pending int64 `json:"pending"`
	// Oldest is the age of the oldest unfolded fact (0 when none).
	Oldest time.Duration `json:"oldest_ns"`
}

// Check is one line of the health report.
type Check struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	NFRRef string `json:"nfr_ref,omitempty"`
}

// HealthInput is what the health report is computed from.
type HealthInput struct {
	Now time.Time
	// TotalEvents is the number of facts ever recorded (0 → unknown).
	TotalEvents int64
	// LastEventAt is the time of the latest fact (zero when unknown).
	LastEventAt time.Time
	// Window holds the counters the success rate and the backlogs are
	// computed from. The original used counters since the beginning, so a
	// lost fact skewed its backlogs for ever; the store passes the counters
	// of a recent window instead (see pkg/local), with the same formulas.
	Window Counts
	// Latency is the end-to-end latency summary.
	Latency LatencySummary
	// Queues are the work queues' depths; nil when the runtime cannot say
	// (the queue checks are then left out).
	Queues []QueueDepth
	// FoldLag is the projections' lag; nil when the runtime cannot say
	// (the fold-lag check is then left out).
	FoldLag *FoldLag
}

// HealthReport is the result of Health.
type HealthReport struct {
	Status      Status         `json:"status"`
	Reasons     []string       `json:"reasons"`
	SuccessRate *float64       `json:"success_rate,omitempty"`
	LastEventAt *time.Time     `json:"last_event_at,omitempty"`
	TotalEvents int64          `json:"total_events"`
	Checks      []Check        `json:"checks"`
	Latency     LatencySummary `json:"latency"`
}

// threshold: above redMax is red, above amberMax is amber, otherwise green;
// the boundaries belong to the lower status.
func threshold(v, amberMax, redMax float64) Status {
	switch {
	case v > redMax:
		return StatusRed
	case v > amberMax:
		return StatusAmber
	}
	return StatusGreen
}

// jsRound rounds half up, like JavaScript's Math.round.
func jsRound(v float64) int64 { return int64(math.Floor(v + 0.5)) }

// Health computes the health report: five checks in a fixed order
// (recency NFR-11, trigger success rate NFR-04, planning and dispatch
// backlogs NFR-01, end-to-end latency NFR-02), the overall status (the
// worst check, where unknown never lowers it below green) and the reasons
// (one "<label>: <detail>" per check that is not green).
func Health(in HealthInput) HealthReport {
	if in.TotalEvents == 0 {
		return HealthReport{
			Status:  StatusUnknown,
			Reasons: []string{"No events recorded yet"},
			Checks: []Check{{ID: CheckEventsSeen, Label: "Events observed", Status: StatusUnknown,
				Detail: "No facts have been recorded yet."}},
			Latency: in.Latency,
		}
	}
	r := HealthReport{TotalEvents: in.TotalEvents, Latency: in.Latency}

	recency := Check{ID: CheckEventRecency, Label: "Recent pipeline activity", NFRRef: "NFR-11",
		Status: StatusUnknown, Detail: "No last-event timestamp available"}
	if !in.LastEventAt.IsZero() {
		r.LastEventAt = ptr(in.LastEventAt.UTC())
		ms := float64(in.Now.Sub(in.LastEventAt).Milliseconds())
		recency.Status = threshold(ms, 15*60_000, 45*60_000)
		recency.Detail = fmt.Sprintf("Last event %d min ago (green <= 15, amber <= 45, red > 45).", jsRound(ms/60_000))
	}

	w := in.Window
	rate := Check{ID: CheckTriggerSuccessRate, Label: "Trigger success rate", NFRRef: "NFR-04",
		Status: StatusUnknown, Detail: "No trigger outcomes yet"}
	if outcomes := w.TriggerSucceeded + w.TriggerFailed; outcomes > 0 {
		v := float64(w.TriggerSucceeded) / float64(outcomes)
		r.SuccessRate = ptr(v)
		switch {
		case v < 0.80:
			rate.Status = StatusRed
		case v < 0.95:
			rate.Status = StatusAmber
		default:
			rate.Status = StatusGreen
		}
		rate.Detail = fmt.Sprintf("%d%% (green >= 95%%, amber >= 80%%, red < 80%%).", jsRound(v*100))
	}

	// A window can start between two facts of one delivery, so a
	// difference may be negative; it is shown as 0.
	pendingPlan := max(w.RequestAccepted-w.PlanCreated, 0)
	planning := Check{ID: CheckPlanningBacklog, Label: "Planning backlog", NFRRef: "NFR-01",
		Status: threshold(float64(pendingPlan), 3, 10),
		Detail: fmt.Sprintf("%d requests waiting to be planned (green <= 3, amber <= 10, red > 10).", pendingPlan)}

	pendingDispatch := max(w.TargetQueued-(w.TriggerSucceeded+w.TriggerFailed), 0)
	dispatch := Check{ID: CheckDispatchBacklog, Label: "Dispatch backlog", NFRRef: "NFR-01",
		Status: threshold(float64(pendingDispatch), 8, 25),
		Detail: fmt.Sprintf("%d queued targets without outcome (green <= 8, amber <= 25, red > 25).", pendingDispatch)}

	latency := Check{ID: CheckEndToEndLatency, Label: "End-to-end latency (request to first success)", NFRRef: "NFR-02",
		Status: StatusUnknown, Detail: "Not enough successful delivery journeys yet to compute latency."}
	if in.Latency.Count > 0 && in.Latency.P95Seconds != nil {
		p95 := *in.Latency.P95Seconds
		latency.Status = threshold(p95, 60, 120)
		latency.Detail = fmt.Sprintf("P95 %ss over %d deliveries (green <= 60s, amber <= 120s, red > 120s). NFR-02 target: ≤30s Lambda processing time.",
			strconv.FormatFloat(p95, 'f', -1, 64), in.Latency.Count)
	}

	r.Checks = []Check{recency, rate, planning, dispatch, latency}
	if in.Queues != nil {
		r.Checks = append(r.Checks, queueBacklog(in.Now, in.Queues), deadLetters(in.Queues))
		// An idle system is healthy: with nothing waiting anywhere, a
		// quiet hour is not an outage (the original turned red 45 minutes
		// after the last event, for ever on a quiet installation).
		if recency.Status != StatusUnknown && recency.Status != StatusGreen && pendingPlan == 0 && pendingDispatch == 0 && idle(in.Queues) {
			r.Checks[0].Status = StatusGreen
			r.Checks[0].Detail = fmt.Sprintf("Idle: last event %d min ago and nothing waiting (when work waits: green <= 15, amber <= 45, red > 45).",
				jsRound(float64(in.Now.Sub(in.LastEventAt).Milliseconds())/60_000))
		}
	}
	if in.FoldLag != nil {
		r.Checks = append(r.Checks, foldLag(*in.FoldLag))
	}
	r.Status = StatusGreen
	for _, c := range r.Checks {
		if c.Status.rank() > r.Status.rank() {
			r.Status = c.Status
		}
		if c.Status != StatusGreen {
			r.Reasons = append(r.Reasons, c.Label+": "+c.Detail)
		}
	}
	if len(r.Reasons) == 0 {
		r.Reasons = []string{"All checks within expected operating thresholds."}
	}
	return r
}

func idle(qs []QueueDepth) bool {
	for _, q := range qs {
		if q.Visible > 0 || q.InFlight > 0 {
			return false
		}
	}
	return true
}

// Thresholds of the checks added to the original's five.
const (
	// QueueAgeAmber and QueueAgeRed bound the age of the oldest message
	// waiting in a work queue.
	QueueAgeAmber = 60 * time.Second
	QueueAgeRed   = 5 * time.Minute
	// DeadLettersRed: more dead letters than this is red; any is amber.
	DeadLettersRed = 10
	// FoldLagAmber and FoldLagRed bound the age of the oldest fact not yet
	// folded into the projections.
	FoldLagAmber = 30 * time.Second
	FoldLagRed   = 5 * time.Minute
)

// queueBacklog: the age of the oldest message waiting in any work queue
// (a queue that nobody consumes grows old, however short it is).
func queueBacklog(now time.Time, qs []QueueDepth) Check {
	c := Check{ID: CheckQueueBacklog, Label: "Queue backlog", NFRRef: "NFR-01"}
	var waiting int64
	var oldest time.Duration
	parts := make([]string, 0, len(qs))
	for _, q := range qs {
		waiting += q.Visible
		parts = append(parts, fmt.Sprintf("%s %d", q.Name, q.Visible))
		if q.Visible > 0 && !q.OldestVisibleAt.IsZero() {
			oldest = max(oldest, now.Sub(q.OldestVisibleAt))
		}
	}
	c.Status = threshold(oldest.Seconds(), QueueAgeAmber.Seconds(), QueueAgeRed.Seconds())
	c.Detail = fmt.Sprintf("%d messages waiting (%s); oldest %s (green <= %s, amber <= %s, red > %s).",
		waiting, strings.Join(parts, ", "), fmtSeconds(oldest), fmtSeconds(QueueAgeAmber), fmtSeconds(QueueAgeRed), fmtSeconds(QueueAgeRed))
	return c
}

// deadLetters: any dead letter needs an operator (amber); many is red.
func deadLetters(qs []QueueDepth) Check {
	c := Check{ID: CheckDeadLetters, Label: "Dead-letter queues", NFRRef: "NFR-04"}
	var n int64
	parts := make([]string, 0, len(qs))
	for _, q := range qs {
		n += q.DeadLetters
		parts = append(parts, fmt.Sprintf("%s %d", q.Name, q.DeadLetters))
	}
	c.Status = threshold(float64(n), 0, DeadLettersRed)
	c.Detail = fmt.Sprintf("%d dead letters (%s) (green 0, amber <= %d, red > %d).", n, strings.Join(parts, ", "), DeadLettersRed, DeadLettersRed)
	if n > 0 {
		c.Detail += " Inspect and redrive them with: dispatcher replay-dlq"
	}
	return c
}

// foldLag: the age of the oldest fact the projections do not show yet.
func foldLag(l FoldLag) Check {
	c := Check{ID: CheckFoldLag, Label: "Projection fold lag", NFRRef: "NFR-11"}
	age := max(l.Oldest, 0)
	if l.Pending <= 0 {
		age = 0
	}
	c.Status = threshold(age.Seconds(), FoldLagAmber.Seconds(), FoldLagRed.Seconds())
	c.Detail = fmt.Sprintf("%d facts not yet folded; oldest %s (green <= %s, amber <= %s, red > %s).",
		max(l.Pending, 0), fmtSeconds(age), fmtSeconds(FoldLagAmber), fmtSeconds(FoldLagRed), fmtSeconds(FoldLagRed))
	return c
}

// fmtSeconds formats a duration in whole seconds ("0s", "90s", "300s").
func fmtSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}
