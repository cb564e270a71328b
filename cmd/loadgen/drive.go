package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/cli"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

// report is what one run measured.
type report struct {
	Service         string  `json:"service"`
	Targets         int     `json:"targets_per_delivery"`
	GitHubLatencyMS int64   `json:"github_latency_ms"`
	Concurrency     int     `json:"concurrency"`
	Rate            float64 `json:"rate,omitempty"`

	Deliveries     int     `json:"deliveries"`
	Accepted       int     `json:"accepted"`
	Refused        int     `json:"refused"`
	Seconds        float64 `json:"seconds"`
	DeliveriesPerS float64 `json:"deliveries_per_second"`
	AckP50MS       float64 `json:"ack_p50_ms"`
	AckP99MS       float64 `json:"ack_p99_ms"`
	E2EP50MS       float64 `json:"webhook_to_last_dispatch_p50_ms"`
	E2EP99MS       float64 `json:"webhook_to_last_dispatch_p99_ms"`

	Dispatched        int            `json:"dispatched_targets"`
	Duplicates        int            `json:"duplicates"`
	Lost              int            `json:"lost"`
	GitHubRequests    map[string]int `json:"github_requests"`
	RequestsPerTarget float64        `json:"rate_limited_requests_per_target"`
	NotModified       int64          `json:"not_modified_304"`
	NotModifiedPerCfg float64        `json:"revalidations_per_config_read"`
	LimitedAnswers    int64          `json:"answers_403_429"`
	PeakRSSMB         float64        `json:"peak_rss_mb"`

	StormFraction float64 `json:"storm_fraction,omitempty"`
	Replayed      int     `json:"replayed_dead_letters,omitempty"`
	SharedRunIDs  int     `json:"run_ids_recorded_twice"`
}

// drive sends the deliveries, waits for the expected dispatches and
// computes the report.
func drive(ctx context.Context, c config, base string, gh *github, ch *child) (*report, error) {
	var stormEnd <-chan time.Time
	if c.storm > 0 {
		gh.fake.StartStorm(ghfake.Storm{Fraction: c.storm, Seed: 1, RetryAfter: time.Second})
		stormEnd = time.After(c.stormFor)
	}
	tmpl, err := payloadTemplate(c.payloadSize)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.concurrency * 2, MaxConnsPerHost: 0}}
	type result struct {
		sha    string
		start  time.Time
		ack    time.Duration
		status int
	}
	results := make([]result, c.deliveries)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var sendErr error
	var errOnce sync.Once
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				sha := fmt.Sprintf("%040x", i+1)
				body := bytes.Replace(tmpl, []byte("SHA_PLACEHOLDER_SHA_PLACEHOLDER_SHA_PLAC"), []byte(sha), 1)
				body = bytes.Replace(body, []byte(`"id":4242424242`), []byte(fmt.Sprintf(`"id":%d`, 100000+i)), 1)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/github", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(pipeline.HeaderEvent, "workflow_run")
				req.Header.Set(pipeline.HeaderDelivery, fmt.Sprintf("loadgen-%d-%d", time.Now().UnixNano(), i))
				req.Header.Set(pipeline.HeaderSignature, pipeline.Sign([]byte(secret), body))
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errOnce.Do(func() { sendErr = err })
					results[i] = result{sha: sha, start: start}
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				results[i] = result{sha: sha, start: start, ack: time.Since(start), status: res.StatusCode}
			}
		}()
	}
	began := time.Now()
	if c.rate > 0 {
		interval := time.Duration(float64(time.Second) / c.rate)
		for i := range c.deliveries {
			if d := time.Until(began.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
			}
		}
	} else {
		for i := range c.deliveries {
			select {
			case jobs <- i:
			case <-ctx.Done():
			}
		}
	}
	close(jobs)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	r := &report{Deliveries: c.deliveries}
	var acks []time.Duration
	accepted := map[string]time.Time{}
	for _, res := range results {
		if res.status == http.StatusAccepted {
			r.Accepted++
			acks = append(acks, res.ack)
			accepted[res.sha] = res.start
		} else {
			r.Refused++
		}
	}
	if r.Accepted == 0 {
		return nil, fmt.Errorf("no delivery was accepted (first error: %v)", sendErr)
	}
	want := len(gh.targets)
	replayed := 0
	if c.storm > 0 {
		// The storm ends (--storm-for, and not before every delivery was
		// sent); the pipeline finishes what it can, then one replay-dlq
		// --yes drains the dead letters (as an operator would).
		select {
		case <-stormEnd:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		gh.fake.StopStorm()
		if err := waitQuiet(ctx, c.db, c.settleTimeout); err != nil {
			return nil, err
		}
		n, err := replayDLQ(ctx, c.db)
		if err != nil {
			return nil, err
		}
		replayed = n
	}
	// Wait until every accepted delivery has all its dispatches (or the
	// settle timeout says some are lost).
	deadline := time.Now().Add(c.settleTimeout)
	for {
		gh.mu.Lock()
		done := 0
		for sha := range accepted {
			n := 0
			for _, t := range gh.targets {
				if gh.count[sha+"|"+t] > 0 {
					n++
				}
			}
			if n == want {
				done++
			}
		}
		gh.mu.Unlock()
		if done == len(accepted) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	finished := time.Now()

	gh.mu.Lock()
	defer gh.mu.Unlock()
	var e2e []time.Duration
	last := began
	for sha, start := range accepted {
		for _, t := range gh.targets {
			switch n := gh.count[sha+"|"+t]; {
			case n == 0:
				r.Lost++
			case n > 1:
				r.Duplicates += n - 1
			}
			r.Dispatched += min(gh.count[sha+"|"+t], 1)
		}
		if at, ok := gh.lastAt[sha]; ok {
			e2e = append(e2e, at.Sub(start))
			if at.After(last) {
				last = at
			}
		}
	}
	if r.Lost == 0 {
		finished = last
	}
	r.Seconds = finished.Sub(began).Seconds()
	r.DeliveriesPerS = float64(r.Accepted) / r.Seconds
	r.AckP50MS, r.AckP99MS = pct(acks, 50), pct(acks, 99)
	r.E2EP50MS, r.E2EP99MS = pct(e2e, 50), pct(e2e, 99)
	r.GitHubRequests = maps(gh.kinds)
	if r.Dispatched > 0 {
		// Requests that count against the primary rate limit: every request
		// but 304s (free) and installation-token requests (JWT).
		total := 0
		for k, n := range gh.kinds {
			if k != "token" {
				total += n
			}
		}
		r.RequestsPerTarget = round2(float64(total-int(gh.notMod)) / float64(r.Dispatched))
	}
	r.NotModified, r.LimitedAnswers = gh.notMod, gh.limited
	r.StormFraction, r.Replayed = c.storm, replayed
	if c.service == "serve" {
		shared, err := sharedRunIDs(ctx, c.db)
		if err != nil {
			return nil, err
		}
		r.SharedRunIDs = shared
	}
	if reads := gh.kinds["contents"]; reads > 0 {
		r.NotModifiedPerCfg = round2(float64(gh.notMod) / float64(reads))
	}
	return r, nil
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return round2(float64(s[i].Microseconds()) / 1000)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// payloadTemplate is a real workflow_run delivery (examples/webhook) padded
// to size bytes with a long head commit message, with placeholders for the
// head sha and the run id.
func payloadTemplate(size int) ([]byte, error) {
	var m map[string]any
	b, err := os.ReadFile(filepath.Join(repoRoot(), "examples", "webhook", "workflow_run.json"))
	if err != nil {
		return nil, fmt.Errorf("read the sample payload (run loadgen from the repository): %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["installation"] = map[string]any{"id": installation}
	run := m["workflow_run"].(map[string]any)
	run["id"] = 4242424242
	run["head_sha"] = "SHA_PLACEHOLDER_SHA_PLACEHOLDER_SHA_PLAC"
	out, _ := json.Marshal(m)
	if pad := size - len(out); pad > 0 {
		hc, _ := run["head_commit"].(map[string]any)
		if hc == nil {
			hc = map[string]any{}
		}
		hc["message"] = strings.Repeat("x", pad)
		run["head_commit"] = hc
		out, _ = json.Marshal(m)
	}
	return out, nil
}

// repoRoot finds the repository root from the working directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "examples", "webhook", "workflow_run.json")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func (r *report) print(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := fmt.Sprintf("closed loop, %d senders", r.Concurrency)
	if r.Rate > 0 {
		mode = fmt.Sprintf("paced at %g/s", r.Rate)
	}
	fmt.Fprintf(tw, "service\t%s (%d target(s) per delivery, GitHub latency %d ms, %s)\n", r.Service, r.Targets, r.GitHubLatencyMS, mode)
	fmt.Fprintf(tw, "deliveries\t%d sent, %d accepted, %d refused, in %.2f s\n", r.Deliveries, r.Accepted, r.Refused, r.Seconds)
	fmt.Fprintf(tw, "throughput\t%.0f deliveries/s end to end\n", r.DeliveriesPerS)
	fmt.Fprintf(tw, "ack\tp50 %.2f ms, p99 %.2f ms\n", r.AckP50MS, r.AckP99MS)
	fmt.Fprintf(tw, "webhook → last dispatch\tp50 %.2f ms, p99 %.2f ms\n", r.E2EP50MS, r.E2EP99MS)
	fmt.Fprintf(tw, "dispatched targets\t%d (duplicates %d, lost %d)\n", r.Dispatched, r.Duplicates, r.Lost)
	keys := make([]string, 0, len(r.GitHubRequests))
	for k := range r.GitHubRequests {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.GitHubRequests[k]))
	}
	fmt.Fprintf(tw, "GitHub requests\t%s; 304s %d; 403/429 answers %d\n", strings.Join(parts, ", "), r.NotModified, r.LimitedAnswers)
	fmt.Fprintf(tw, "per dispatched target\t%.2f rate-limited requests; %.2f revalidations (304) per config read\n", r.RequestsPerTarget, r.NotModifiedPerCfg)
	fmt.Fprintf(tw, "peak RSS\t%.1f MB\n", r.PeakRSSMB)
	if r.StormFraction > 0 {
		fmt.Fprintf(tw, "storm\t%.0f%% of GitHub requests failed while sending; %d dead letters replayed after it\n", r.StormFraction*100, r.Replayed)
	}
	fmt.Fprintf(tw, "run ids recorded twice\t%d\n", r.SharedRunIDs)
	return tw.Flush()
}

// waitQuiet waits until serve's queues hold no message but dead letters.
func waitQuiet(ctx context.Context, db string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := local.Open(ctx, db, local.Options{})
		if err != nil {
			return err
		}
		busy := int64(0)
		for _, q := range []string{pipeline.QueueRequests, pipeline.QueueTargets} {
			qs, err := st.Queue(q).Stats(ctx)
			if err != nil {
				st.Close()
				return err
			}
			busy += qs.Visible + qs.NotVisible
		}
		st.Close()
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("serve's queues still hold %d messages after %v", busy, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replayDLQ runs `dispatcher replay-dlq --yes` on both queues of the
// store, as an operator would, and returns how many messages it moved.
func replayDLQ(ctx context.Context, db string) (int, error) {
	moved := 0
	for _, q := range []string{pipeline.QueueRequests, pipeline.QueueTargets} {
		var out, errOut bytes.Buffer
		s := cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut, Getwd: os.Getwd,
			Getenv: func(string) (string, bool) { return "", false }}
		code := cli.Main(ctx, []string{"dispatcher", "replay-dlq", "--db", db, "--queue", q, "--yes", "--format", "json"}, s, cli.BuildInfo{})
		if code != 0 {
			return moved, fmt.Errorf("replay-dlq --queue %s: exit %d: %s", q, code, errOut.String())
		}
		var res struct {
			Moved int `json:"moved"`
		}
		if json.Unmarshal(out.Bytes(), &res) == nil {
			moved += res.Moved
		}
	}
	return moved, nil
}

// sharedRunIDs counts target run ids that two trigger.succeeded facts of
// different dispatches recorded (each must name its own run).
func sharedRunIDs(ctx context.Context, db string) (int, error) {
	st, err := local.Open(ctx, db, local.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	evs, err := st.RecentEvents(ctx, 1_000_000)
	if err != nil {
		return 0, err
	}
	owner := map[string]string{}
	shared := 0
	for _, e := range evs {
		if e.Type != "dispatch.trigger.succeeded" || e.Data.TargetRunID == 0 {
			continue
		}
		run := e.Data.TargetRepo + "#" + strconv.FormatInt(e.Data.TargetRunID, 10)
		item := fmt.Sprintf("%s#%d#%s#%s", e.Data.SourceRepo, e.Data.SourceRunID, e.Data.TargetRepo, e.Data.TargetWorkflow)
		if o, ok := owner[run]; ok && o != item {
			shared++
		}
		owner[run] = item
	}
	return shared, nil
}
