package pipeline

import (
	"log/slog"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

func orDefault(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// sourceData is the common part of every fact of a work item.
func (w WorkItem) sourceData() facts.Data {
	return facts.Data{
		DeliveryID:     w.DeliveryID,
		SourceRepo:     w.Source.Repository,
		SourceWorkflow: w.Source.Workflow,
		SourceRunID:    w.Source.RunID,
		RunAttempt:     w.Source.RunAttempt,
		TargetRepo:     w.Target.Repository,
		TargetWorkflow: w.Target.Workflow,
		Ref:            w.Target.Ref,
	}
}

// runChain returns the chain of the run a work item dispatches: the
// source's chain (the source alone when it was not started by dispatcher)
// followed by the target.
func (w WorkItem) runChain() []plan.ChainLink {
	chain := make([]plan.ChainLink, 0, len(w.Chain)+2)
	chain = append(chain, w.Chain...)
	if len(chain) == 0 {
		chain = append(chain, plan.ChainLink{Repository: w.Source.Repository, Workflow: w.Source.Workflow})
	}
	return append(chain, plan.ChainLink{Repository: w.Target.Repository, Workflow: w.Target.Workflow})
}
