package pipelinetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline/pipelinetest"
)

// The fake's Release is a compare-and-delete on the lease, like the
// store's: a stale holder cannot release a claim taken over since, and
// nobody releases a done claim.
func TestClaimsReleaseNeedsTheLease(t *testing.T) {
	ctx := context.Background()
	c := &pipelinetest.Claims{}
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	if got, _ := c.Claim(ctx, "k", t1); got.State != pipeline.ClaimAcquired {
		t.Fatalf("claim: %+v", got)
	}
	if ok, _ := c.TakeOver(ctx, "k", t1, t2); !ok {
		t.Fatal("takeover failed")
	}
	if ok, _ := c.Release(ctx, "k", t1); ok {
		t.Error("a stale holder released a taken-over claim")
	}
	if got, ok := c.Get("k"); !ok || !got.LeasedAt.Equal(t2) {
		t.Fatalf("after a stale release: %+v %v, want the claim leased at %v", got, ok, t2)
	}
	if ok, _ := c.Release(ctx, "k", t2); !ok || c.Releases() != 1 {
		t.Fatalf("release by the holder: %v, releases %d", ok, c.Releases())
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("the holder's release kept the claim")
	}
	c.Claim(ctx, "k", t1)
	if err := c.Complete(ctx, "k", pipeline.DispatchResult{RunID: 1}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Release(ctx, "k", t1); ok {
		t.Error("a done claim was released")
	}
}
