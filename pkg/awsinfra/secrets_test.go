package awsinfra_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

func strs(v [][]byte) string {
	var s []string
	for _, b := range v {
		s = append(s, string(b))
	}
	return strings.Join(s, ",")
}

// TestSecretRotation: during a rotation both AWSCURRENT and AWSPREVIOUS
// verify a webhook; the cache follows the secret once it is refreshed
// (on use when stale, or by the background loop).
func TestSecretRotation(t *testing.T) {
	client := kumoSecrets()
	ctx := context.Background()
	name := prefix(t) + "/webhook"
	out, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("old-secret")})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	s := awsinfra.NewSecret(client, aws.ToString(out.ARN))
	s.Now, s.MaxAge = clk.Now, time.Minute

	if v, err := s.Values(ctx); err != nil || strs(v) != "old-secret" {
		t.Fatalf("before rotation: %q, %v", strs(v), err)
	}
	if _, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("new-secret")}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Values(ctx); strs(v) != "old-secret" {
		t.Fatalf("a fresh cache was refetched: %q", strs(v))
	}
	clk.Advance(time.Minute)
	v, err := s.Values(ctx)
	if err != nil || strs(v) != "new-secret,old-secret" {
		t.Fatalf("after rotation: %q, %v; want current then previous", strs(v), err)
	}
	body := []byte(`{"action":"completed"}`)
	for _, secret := range []string{"old-secret", "new-secret"} {
		sig := pipeline.Sign([]byte(secret), body)
		ok := false
		for _, k := range v {
			ok = ok || pipeline.VerifySignature(k, body, sig)
		}
		if !ok {
			t.Errorf("a delivery signed with %s does not verify mid-rotation", secret)
		}
	}

	// The background loop refreshes on each tick.
	if _, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("third")}); err != nil {
		t.Fatal(err)
	}
	s.MaxAge = 24 * time.Hour // only the loop refreshes now
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() { s.RefreshLoop(loopCtx, ticks); close(done) }()
	ticks <- time.Time{}
	ticks <- time.Time{} // the first refresh has finished when the loop takes the second tick
	// (kumo keeps the first value as AWSPREVIOUS after a second rotation;
	// AWS moves it to "new-secret". Only the current value is checked.)
	if v, _ := s.Values(ctx); len(v) == 0 || string(v[0]) != "third" {
		t.Fatalf("after the loop's refresh: %q", strs(v))
	}
	stop()
	<-done
}

func TestSecretMissing(t *testing.T) {
	s := awsinfra.NewSecret(kumoSecrets(), "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope-"+prefix(t))
	_, err := s.Values(context.Background())
	if err == nil || !strings.Contains(err.Error(), "AWSCURRENT") {
		t.Fatalf("missing secret: %v", err)
	}
}
