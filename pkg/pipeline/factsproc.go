package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// FactsProcessor is the facts stage of the AWS runtime: EventBridge
// delivers the facts the other stages published, and the processor applies
// them to the event store and projections. Locally the publisher applies
// facts directly and this stage is not needed.
type FactsProcessor struct {
	store FactPublisher
	log   *slog.Logger
}

// NewFactsProcessor builds a FactsProcessor over store, which appends each
// fact and updates the projections idempotently (a fact id applied twice
// counts once).
func NewFactsProcessor(store FactPublisher, logger *slog.Logger) (*FactsProcessor, error) {
	if store == nil {
		return nil, errors.New("facts processor: a fact store is required")
	}
	return &FactsProcessor{store: store, log: orDefault(logger)}, nil
}

var knownFactTypes = map[string]bool{
	facts.TypeRequestAccepted:  true,
	facts.TypePlanCreated:      true,
	facts.TypeTargetQueued:     true,
	facts.TypeTargetDenied:     true,
	facts.TypeTriggerSucceeded: true,
	facts.TypeTriggerFailed:    true,
}

// ValidateFact reports why e is not a fact this version can apply.
func ValidateFact(e facts.Event) error {
	switch {
	case e.SpecVersion != facts.SpecVersion:
		return fmt.Errorf("fact %q: specversion %q, want %q", e.ID, e.SpecVersion, facts.SpecVersion)
	case e.ID == "":
		return errors.New("fact without id")
	case !knownFactTypes[e.Type]:
		return fmt.Errorf("fact %q: unknown type %q", e.ID, e.Type)
	case e.Data.DeliveryID == "":
		return fmt.Errorf("fact %q: no delivery_id", e.ID)
	case e.Time.IsZero():
		return fmt.Errorf("fact %q: no time", e.ID)
	}
	return nil
}

// HandleFacts applies the valid events in one call to the store. Invalid
// events are skipped and reported in a permanent error (retrying cannot fix
// them); a store failure is returned as is (transient), and since applying
// is idempotent the whole batch may be retried.
func (p *FactsProcessor) HandleFacts(ctx context.Context, events ...facts.Event) error {
	valid := make([]facts.Event, 0, len(events))
	var bad []error
	for _, e := range events {
		if err := ValidateFact(e); err != nil {
			p.log.Error("invalid fact dropped", "correlation_id", e.Data.DeliveryID, "error", err)
			bad = append(bad, err)
			continue
		}
		valid = append(valid, e)
	}
	if len(valid) > 0 {
		if err := p.store.Publish(ctx, valid...); err != nil {
			return fmt.Errorf("apply %d facts: %w", len(valid), err)
		}
	}
	if len(bad) > 0 {
		return PermanentError("validate facts", errors.Join(bad...))
	}
	return nil
}
