package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
)

// delivery reads one delivery; ok is false when nothing is recorded.
func (a *adminSource) delivery(ctx context.Context, id string) (b httpapi.DeliveryBody, ok bool, err error) {
	if a.reader != nil {
		return httpapi.Delivery(ctx, a.reader, id)
	}
	err = a.get(ctx, "/admin/api/deliveries/"+url.PathEscape(id), &b)
	if errors.Is(err, errNotFound) {
		return b, false, nil
	}
	return b, err == nil, err
}

func newTraceCmd(s Streams) *cobra.Command {
	o := &adminSourceOptions{}
	cmd := &cobra.Command{
		Use:   "trace DELIVERY_ID",
		Short: "Show every fact of one webhook delivery, with reasons and target run links",
		Long: `trace answers "why did my dispatch not fire?" for one webhook delivery (the
X-GitHub-Delivery id GitHub shows in the App's "Advanced" tab): its funnel
(accepted, planned, queued, denied, succeeded, failed), what happened to each
target with its reason code, detail (the rule that matched or the check that
failed), GitHub's error and the target run link, then every fact in time
order.

It reads the store of "dispatcher serve" (--db, else DISPATCHER_DB), or, with
--url, the admin API of a running instance (ADMIN_TOKEN is sent when set).
Exit status: 0 when the delivery was shown, and also when nothing is
recorded for it (said on stderr); 1 when it could not be read; 2 for a usage
error.`,
		Example: `  dispatcher trace 72d3162e-cc78-11e3-81ab-4c9367dc0958
  dispatcher trace 72d3162e-cc78-11e3-81ab-4c9367dc0958 --format json | jq '.targets[] | select(.status == "denied")'
  ADMIN_TOKEN=… dispatcher trace 72d3162e-cc78-11e3-81ab-4c9367dc0958 --url https://dispatcher.example.com`,
		Args: usageExactlyOne("DELIVERY_ID", "the X-GitHub-Delivery id of a webhook delivery"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.TrimSpace(args[0])
			if id == "" {
				return usageErrorf("DELIVERY_ID must not be empty")
			}
			src, err := openAdminSource(cmd.Context(), s, o)
			if err != nil {
				return err
			}
			defer src.Close()
			b, ok, err := src.delivery(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("trace %s: %w", id, err)
			}
			if !ok {
				fmt.Fprintf(s.Err, "dispatcher: no fact recorded for delivery %s (facts are kept for the retention period; check the id in the App's Advanced tab)\n", id)
				return nil
			}
			if o.format == "json" {
				return writeJSONOut(s.Out, b)
			}
			renderTrace(s.Out, b)
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func traceTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") }

// renderTrace writes the text form of a delivery.
func renderTrace(w io.Writer, b httpapi.DeliveryBody) {
	f := b.Delivery
	fmt.Fprintf(w, "Delivery %s: %s\n", f.DeliveryID, f.Status)
	src := f.SourceRepo
	if f.SourceWorkflow != "" {
		src += " " + f.SourceWorkflow
	}
	if f.SourceRunID != 0 {
		src += fmt.Sprintf(" run %d", f.SourceRunID)
		if f.RunAttempt > 1 {
			src += fmt.Sprintf(" attempt %d", f.RunAttempt)
		}
	}
	fmt.Fprintf(w, "  source:  %s\n", src)
	if f.PlanReason != "" {
		fmt.Fprintf(w, "  not eligible: %s\n", f.PlanReason)
	}
	fmt.Fprintf(w, "  funnel:  %d accepted, %d planned, %d queued, %d denied, %d succeeded, %d failed\n",
		f.Accepted, f.Planned, f.Queued, f.Denied, f.Succeeded, f.Failed)
	if f.LatencySeconds != nil {
		fmt.Fprintf(w, "  latency: %ss (request accepted to first successful trigger)\n", trimFloat(*f.LatencySeconds))
	}
	if len(b.Targets) > 0 {
		fmt.Fprintln(w, "\nTargets:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range b.Targets {
			name := t.Repository + " " + t.Workflow
			if t.Ref != "" {
				name += " @ " + t.Ref
			}
			var why []string
			if t.Reason != "" {
				why = append(why, t.Reason)
			}
			if t.Error != "" {
				why = append(why, t.Error)
			}
			if t.RunURL != "" {
				why = append(why, t.RunURL)
			}
			if t.Attempts > 1 {
				why = append(why, fmt.Sprintf("%d attempts", t.Attempts))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, t.Status, strings.Join(why, "; "))
			if t.Detail != "" {
				fmt.Fprintf(tw, "  \t\t%s\n", t.Detail)
			}
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nFacts:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range b.Journey {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", traceTime(e.Time), strings.TrimPrefix(e.Type, "dispatch."), factLine(e))
	}
	tw.Flush()
}

// factLine summarises what one fact says.
func factLine(e facts.Event) string {
	d := e.Data
	var parts []string
	if d.TargetRepo != "" {
		parts = append(parts, d.TargetRepo+" "+d.TargetWorkflow)
	}
	if e.Type == facts.TypePlanCreated && d.Eligible != nil {
		if *d.Eligible {
			parts = append(parts, fmt.Sprintf("eligible: %d candidates, %d to dispatch, %d denied", deref(d.Candidates), deref(d.Allowed), deref(d.Denied)))
		} else {
			parts = append(parts, "not eligible")
		}
	}
	for _, s := range []string{d.Reason, d.Detail, d.Error, d.TargetRunURL} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
