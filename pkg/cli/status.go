package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
)

// adminSourceOptions choose where status and trace read from: the local
// store (--db, DISPATCHER_DB) or a running instance's admin API (--url,
// with ADMIN_TOKEN as the bearer token when set).
type adminSourceOptions struct {
	db     string
	url    string
	format string
}

func (o *adminSourceOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.db, "db", "", "`PATH` of the store file (default: DISPATCHER_DB, else ./dispatcher.db)")
	f.StringVar(&o.url, "url", "", "read from the admin API of a running instance at `URL` (e.g. http://127.0.0.1:3000) instead of a store; sends ADMIN_TOKEN when set")
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
}

// adminTimeout bounds one admin API call of --url.
const adminTimeout = 30 * time.Second

// adminSource reads the admin read models from a store or over HTTP.
type adminSource struct {
	reader httpapi.AdminReader // nil with --url
	store  *local.Store
	base   *url.URL
	token  string
	client *http.Client
}

func (a *adminSource) Close() {
	if a.store != nil {
		a.store.Close()
	}
}

func openAdminSource(ctx context.Context, s Streams, o *adminSourceOptions) (*adminSource, error) {
	switch o.format {
	case "text", "json":
	default:
		return nil, usageErrorf("--format: unknown format %q (expected text or json)", o.format)
	}
	if o.url != "" {
		if o.db != "" {
			return nil, usageErrorf("--url and --db cannot be used together")
		}
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageErrorf("--url %q: expected http(s)://HOST[:PORT] of a running dispatcher", o.url)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		return &adminSource{base: u, token: s.Env("ADMIN_TOKEN"), client: &http.Client{Timeout: adminTimeout}}, nil
	}
	path, source, err := storePath(s, o.db)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, usageErrorf("no store at %s (use --db or DISPATCHER_DB to name the file serve uses, or --url for a running instance)", path)
	case err != nil:
		return nil, usageErrorf("%s %s: %w", source, path, err)
	case !st.Mode().IsRegular() || st.Size() == 0:
		return nil, usageErrorf("%s %s: not a store (expected the SQLite store file of dispatcher serve)", source, path)
	}
	store, err := local.Open(ctx, path, local.Options{})
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", source, path, err)
	}
	return &adminSource{reader: store.AdminView(app.RequestsQueue, app.TargetsQueue), store: store}, nil
}

// errNotFound is a 404 from the admin API.
var errNotFound = errors.New("not found")

// get decodes GET base+path into v.
func (a *adminSource) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base.String()+path, nil)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("admin API %s: %w", path, err)
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return errNotFound
	case res.StatusCode == http.StatusUnauthorized && a.token == "":
		return fmt.Errorf("admin API %s: 401: the instance needs its admin token: set ADMIN_TOKEN", path)
	case res.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("admin API %s: 401: the instance refused ADMIN_TOKEN", path)
	case res.StatusCode == http.StatusForbidden:
		return fmt.Errorf("admin API %s: 403: this address may not use the admin API (ADMIN_IP_ALLOWLIST), or the instance has neither ADMIN_TOKEN nor ADMIN_IP_ALLOWLIST on a public address", path)
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("admin API %s: %s", path, res.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("admin API %s: decode: %w", path, err)
	}
	return nil
}

// statusReport is the output of dispatcher status (and its JSON form).
type statusReport struct {
	Health  httpapi.HealthBody  `json:"health"`
	Summary httpapi.SummaryBody `json:"summary"`
}

func (a *adminSource) status(ctx context.Context) (statusReport, error) {
	var r statusReport
	if a.reader == nil {
		if err := a.get(ctx, "/admin/api/health", &r.Health); err != nil {
			return r, err
		}
		var p httpapi.ProjectionsBody
		if err := a.get(ctx, "/admin/projections", &p); err != nil {
			return r, err
		}
		r.Summary = p.Summary
		return r, nil
	}
	h, err := httpapi.Health(ctx, a.reader)
	if err != nil {
		return r, err
	}
	sum, err := a.reader.Summary(ctx)
	if err != nil {
		return r, fmt.Errorf("summary: %w", err)
	}
	return statusReport{Health: h, Summary: httpapi.SummaryBody{Counts: sum.Counts, LastEventAt: sum.LastEventAt}}, nil
}

func newStatusCmd(s Streams) *cobra.Command {
	o := &adminSourceOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show health, counts, queue and dead-letter depths",
		Long: `status shows what the admin dashboard's banner shows, in the terminal: the
health report (every check with its status and detail), the all-time fact
counters, and the depth of each work queue and of its dead-letter queue.

It reads the store of "dispatcher serve" (--db, else DISPATCHER_DB, else
./dispatcher.db; it never creates one, and it may run while serve runs), or,
with --url, the admin API of a running instance (ADMIN_TOKEN is sent as the
bearer token when set). Exit status: 0 when the report was produced, whatever
the health; 1 when it could not be read; 2 for a usage error.`,
		Example: `  # the local store of serve
  dispatcher status

  # a running instance, as JSON
  ADMIN_TOKEN=… dispatcher status --url https://dispatcher.example.com --format json`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := openAdminSource(cmd.Context(), s, o)
			if err != nil {
				return err
			}
			defer src.Close()
			r, err := src.status(cmd.Context())
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if o.format == "json" {
				return writeJSONOut(s.Out, r)
			}
			renderStatus(s.Out, r, time.Now())
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

func statusMark(st facts.Status) string {
	switch st {
	case facts.StatusGreen:
		return "ok"
	case facts.StatusAmber:
		return "WARN"
	case facts.StatusRed:
		return "FAIL"
	}
	return "?"
}

// renderStatus writes the text form of a status report.
func renderStatus(w io.Writer, r statusReport, now time.Time) {
	h := r.Health
	fmt.Fprintf(w, "Status: %s\n", h.Status)
	for _, reason := range h.Reasons {
		fmt.Fprintf(w, "  %s\n", reason)
	}
	fmt.Fprintln(w, "\nChecks:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range h.Checks {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", statusMark(c.Status), c.Label, c.NFRRef, c.Detail)
	}
	tw.Flush()
	c := r.Summary.Counts
	last := "never"
	if !r.Summary.LastEventAt.IsZero() {
		last = r.Summary.LastEventAt.UTC().Format(time.RFC3339) + " (" + ago(now, r.Summary.LastEventAt) + ")"
	}
	fmt.Fprintf(w, "\nFacts (all time): %d requests accepted, %d plans, %d targets queued, %d denied, %d triggers succeeded, %d failed; last %s\n",
		c.RequestAccepted, c.PlanCreated, c.TargetQueued, c.TargetDenied, c.TriggerSucceeded, c.TriggerFailed, last)
	if l := h.Latency; l.Count > 0 && l.P50Seconds != nil && l.P95Seconds != nil {
		fmt.Fprintf(w, "Latency (health window): p50 %ss, p95 %ss over %d deliveries\n", trimFloat(*l.P50Seconds), trimFloat(*l.P95Seconds), l.Count)
	}
	fmt.Fprintln(w, "\nQueues:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  QUEUE\tWAITING\tIN FLIGHT\tDEAD LETTERS\tOLDEST WAITING")
	var dead int64
	for _, q := range h.Queues {
		dead += q.DeadLetters
		oldest := "-"
		if q.Visible > 0 && !q.OldestVisibleAt.IsZero() {
			oldest = ago(now, q.OldestVisibleAt)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", q.Name, q.Visible, q.InFlight, q.DeadLetters, oldest)
	}
	tw.Flush()
	fmt.Fprintf(w, "Projection fold lag: %d facts, oldest %ss\n", h.FoldLag.Pending, trimFloat(h.FoldLag.OldestSeconds))
	if dead > 0 {
		fmt.Fprintf(w, "\n%d dead letters wait for an operator: list them with \"dispatcher replay-dlq\", redrive with \"dispatcher replay-dlq --yes\" once the cause is fixed.\n", dead)
	}
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// ago formats how long before now t was.
func ago(now, t time.Time) string {
	d := max(now.Sub(t), 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h ago", d.Hours())
	}
	return fmt.Sprintf("%d d ago", int(d.Hours()/24))
}
