package plan

import (
	"context"
	"errors"
)

// ParseEvent decodes a workflow_run webhook payload (the JSON GitHub sends,
// or the "run" object wrapped the same way) into an Event. It fails with a
// message naming the missing or mistyped field.
// TODO(skeleton): implemented by the decision engine issue.
func ParseEvent(payload []byte) (Event, error) { return Event{}, errors.New("not built yet") }

// Build evaluates in and returns the Plan.
// TODO(skeleton): implemented by the decision engine issue.
func Build(ctx context.Context, in Input) Plan { return Plan{} }
