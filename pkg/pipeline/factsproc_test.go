package pipeline_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
)

func TestFactsProcessor(t *testing.T) {
	store := &pipelinetest.Facts{}
	p, err := pipeline.NewFactsProcessor(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 123, time.UTC)
	good := facts.New(facts.TypeTargetQueued, at, facts.Data{DeliveryID: "d", SourceRepo: "a/b", TargetRepo: "a/c", TargetWorkflow: "x.yml"})
	if err := p.HandleFacts(t.Context(), good, good); err != nil {
		t.Fatal(err)
	}
	if n := len(store.Unique()); n != 1 {
		t.Fatalf("applied %d facts, want 1 (same id twice)", n)
	}

	bad := good
	bad.Type = "dispatch.unknown"
	bad.ID = "other"
	other := facts.New(facts.TypePlanCreated, at, facts.Data{DeliveryID: "d", SourceRepo: "a/b"})
	err = p.HandleFacts(t.Context(), bad, other)
	if !pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent for an unknown type", err)
	}
	if store.Count(facts.TypePlanCreated) != 1 {
		t.Fatal("the valid fact next to a bad one was not applied")
	}

	store.Err = func([]facts.Event) error { return pipelinetest.ErrInjected }
	err = p.HandleFacts(t.Context(), good)
	if !errors.Is(err, pipelinetest.ErrInjected) || pipeline.IsPermanent(err) {
		t.Fatalf("store failure: err = %v, want transient", err)
	}
	if _, err := pipeline.NewFactsProcessor(nil, nil); err == nil {
		t.Fatal("no store: no error")
	}
}

func TestValidateFact(t *testing.T) {
	ok := facts.New(facts.TypeTriggerFailed, time.Now(), facts.Data{DeliveryID: "d"})
	if err := pipeline.ValidateFact(ok); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*facts.Event){
		"spec version": func(e *facts.Event) { e.SpecVersion = "0.3" },
		"id":           func(e *facts.Event) { e.ID = "" },
		"type":         func(e *facts.Event) { e.Type = "x" },
		"delivery":     func(e *facts.Event) { e.Data.DeliveryID = "" },
		"time":         func(e *facts.Event) { e.Time = time.Time{} },
	} {
		e := ok
		edit(&e)
		if pipeline.ValidateFact(e) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
