package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// metricsWriter writes the Prometheus text exposition format (version
// 0.0.4): a HELP and TYPE line per family, then its samples.
type metricsWriter struct{ b bytes.Buffer }

func (m *metricsWriter) family(name, typ, help string) {
	fmt.Fprintf(&m.b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample; labels are name, value pairs.
func (m *metricsWriter) sample(name string, v float64, labels ...string) {
	m.b.WriteString(name)
	if len(labels) > 0 {
		m.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.b.WriteByte(',')
			}
			m.b.WriteString(labels[i])
			m.b.WriteString(`="`)
			m.b.WriteString(labelEscaper.Replace(labels[i+1]))
			m.b.WriteByte('"')
		}
		m.b.WriteByte('}')
	}
	m.b.WriteByte(' ')
	m.b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	m.b.WriteByte('\n')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// statusValue maps a health status to a gauge value.
func statusValue(s facts.Status) float64 {
	switch s {
	case facts.StatusGreen:
		return 1
	case facts.StatusAmber:
		return 2
	case facts.StatusRed:
		return 3
	}
	return 0
}

func (a *admin) metrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sum, err := a.c.Reader.Summary(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	repos, err := a.c.Reader.RepoStats(ctx, 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h, err := Health(ctx, a.c.Reader)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var m metricsWriter

	m.family("dispatcher_build_info", "gauge", "Build and deployment of this instance (always 1).")
	m.sample("dispatcher_build_info", 1, "version", a.build.Version, "commit", a.build.Commit, "app_version", a.c.AppVersion)

	m.family("dispatcher_facts_total", "counter", "Facts recorded, by type.")
	for _, c := range []struct {
		typ string
		n   int64
	}{
		{facts.TypeRequestAccepted, sum.RequestAccepted}, {facts.TypePlanCreated, sum.PlanCreated},
		{facts.TypeTargetQueued, sum.TargetQueued}, {facts.TypeTargetDenied, sum.TargetDenied},
		{facts.TypeTriggerSucceeded, sum.TriggerSucceeded}, {facts.TypeTriggerFailed, sum.TriggerFailed},
	} {
		m.sample("dispatcher_facts_total", float64(c.n), "type", c.typ)
	}
	m.family("dispatcher_facts_recorded_total", "counter", "Facts recorded, every type included.")
	m.sample("dispatcher_facts_recorded_total", float64(sum.Total))
	if !sum.LastEventAt.IsZero() {
		m.family("dispatcher_last_fact_timestamp_seconds", "gauge", "Time of the latest fact (Unix seconds).")
		m.sample("dispatcher_last_fact_timestamp_seconds", float64(sum.LastEventAt.UnixMilli())/1000)
	}

	m.family("dispatcher_repo_triggers_total", "counter", "Trigger outcomes by source repository.")
	for _, rs := range repos {
		m.sample("dispatcher_repo_triggers_total", float64(rs.TriggerSucceeded), "repo", rs.Repo, "outcome", "succeeded")
		m.sample("dispatcher_repo_triggers_total", float64(rs.TriggerFailed), "repo", rs.Repo, "outcome", "failed")
	}

	m.family("dispatcher_queue_messages", "gauge", "Messages in a work queue: visible (waiting) or in flight (received, or delayed for a retry).")
	for _, q := range h.Queues {
		m.sample("dispatcher_queue_messages", float64(q.Visible), "queue", q.Name, "state", "visible")
		m.sample("dispatcher_queue_messages", float64(q.InFlight), "queue", q.Name, "state", "in_flight")
	}
	m.family("dispatcher_queue_oldest_message_age_seconds", "gauge", "Age of the oldest visible message of a work queue (0 when empty).")
	for _, q := range h.Queues {
		age := 0.0
		if q.Visible > 0 && !q.OldestVisibleAt.IsZero() {
			age = max(a.now().Sub(q.OldestVisibleAt).Seconds(), 0)
		}
		m.sample("dispatcher_queue_oldest_message_age_seconds", age, "queue", q.Name)
	}
	m.family("dispatcher_dlq_messages", "gauge", "Messages in a work queue's dead-letter queue (redrive with dispatcher replay-dlq).")
	for _, q := range h.Queues {
		m.sample("dispatcher_dlq_messages", float64(q.DeadLetters), "queue", q.Name)
	}

	m.family("dispatcher_projection_fold_lag_facts", "gauge", "Facts recorded but not yet folded into the projections.")
	m.sample("dispatcher_projection_fold_lag_facts", float64(h.FoldLag.Pending))
	m.family("dispatcher_projection_fold_lag_seconds", "gauge", "Age of the oldest fact not yet folded into the projections.")
	m.sample("dispatcher_projection_fold_lag_seconds", h.FoldLag.OldestSeconds)

	m.family("dispatcher_delivery_latency_seconds", "histogram", "End-to-end latency of deliveries: request accepted to first successful trigger.")
	lat := sum.Latency
	var cum int64
	for i, le := range facts.LatencyBounds {
		if i < len(lat.Counts) {
			cum += lat.Counts[i]
		}
		m.sample("dispatcher_delivery_latency_seconds_bucket", float64(cum), "le", strconv.FormatFloat(le, 'g', -1, 64))
	}
	m.sample("dispatcher_delivery_latency_seconds_bucket", float64(lat.Count), "le", "+Inf")
	m.sample("dispatcher_delivery_latency_seconds_sum", float64(lat.SumMillis)/1000)
	m.sample("dispatcher_delivery_latency_seconds_count", float64(lat.Count))

	m.family("dispatcher_health_status", "gauge", "Overall health: 0 unknown, 1 green, 2 amber, 3 red.")
	m.sample("dispatcher_health_status", statusValue(h.Status))
	m.family("dispatcher_health_check_status", "gauge", "Status of each health check: 0 unknown, 1 green, 2 amber, 3 red.")
	for _, c := range h.Checks {
		m.sample("dispatcher_health_check_status", statusValue(c.Status), "check", c.ID)
	}

	hd := w.Header()
	hd.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(a.redact(m.b.Bytes()))
}
