package awsinfra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretsAPI is the part of the Secrets Manager client the secret source
// uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Version stages Secret reads.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// DefaultSecretMaxAge is how old a cached secret may get before a read
// fetches it again (in Lambda, background goroutines are frozen between
// invocations, so the age is also checked on use).
const DefaultSecretMaxAge = 5 * time.Minute

// Secret is a Secrets Manager secret (ARN or name) with a cache: it holds
// the AWSCURRENT value and, during a rotation, the AWSPREVIOUS one, so
// that a webhook signed with either verifies. Values are refreshed in the
// background (RefreshLoop) and on use when older than MaxAge; a failed
// refresh keeps serving the cached values. Values never appear in errors
// or logs.
type Secret struct {
	client SecretsAPI
	id     string
	// MaxAge is DefaultSecretMaxAge when 0.
	MaxAge time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger; slog.Default() when nil.
	Logger *slog.Logger

	mu      sync.Mutex
	current []byte
	prev    []byte
	fetched time.Time
	loaded  bool
}

// NewSecret returns the secret id (an ARN or a name) read through client.
func NewSecret(client SecretsAPI, id string) *Secret { return &Secret{client: client, id: id} }

func (s *Secret) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// value reads one version stage; ok is false when the stage does not
// exist (a secret never rotated has no AWSPREVIOUS).
func (s *Secret) value(ctx context.Context, stage string) (v []byte, ok bool, err error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.id), VersionStage: aws.String(stage)})
	var nf *smtypes.ResourceNotFoundException
	if stage == StagePrevious && errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret %s (%s): %w", s.id, stage, err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), true, nil
	}
	return out.SecretBinary, out.SecretBinary != nil, nil
}

// Refresh reads AWSCURRENT and AWSPREVIOUS now and replaces the cache.
func (s *Secret) Refresh(ctx context.Context) error {
	cur, ok, err := s.value(ctx, StageCurrent)
	if err != nil {
		return err
	}
	if !ok || len(cur) == 0 {
		return fmt.Errorf("secret %s: AWSCURRENT is empty", s.id)
	}
	prev, _, err := s.value(ctx, StagePrevious)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.current, s.prev, s.fetched, s.loaded = cur, prev, s.now(), true
	s.mu.Unlock()
	return nil
}

// Values returns the current value and, when there is one, the previous
// one (current first). The first call fetches; later calls use the cache
// and refresh it when older than MaxAge (on a failed refresh the cached
// values are kept and the failure is logged).
func (s *Secret) Values(ctx context.Context) ([][]byte, error) {
	maxAge := s.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultSecretMaxAge
	}
	s.mu.Lock()
	loaded, stale := s.loaded, s.now().Sub(s.fetched) >= maxAge
	s.mu.Unlock()
	if !loaded {
		if err := s.Refresh(ctx); err != nil {
			return nil, err
		}
	} else if stale {
		if err := s.Refresh(ctx); err != nil {
			s.logger().Warn("secret refresh failed; using the cached value", "secret", s.id, "error", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := [][]byte{s.current}
	if len(s.prev) > 0 && string(s.prev) != string(s.current) {
		out = append(out, s.prev)
	}
	return out, nil
}

// Current returns the AWSCURRENT value (cached like Values).
func (s *Secret) Current(ctx context.Context) ([]byte, error) {
	v, err := s.Values(ctx)
	if err != nil {
		return nil, err
	}
	return v[0], nil
}

// WebhookSecrets returns Values: every secret a webhook signature may be
// made with during a rotation. It implements pipeline.WebhookSecrets.
func (s *Secret) WebhookSecrets(ctx context.Context) ([][]byte, error) { return s.Values(ctx) }

// RefreshLoop refreshes the cache at every tick until ctx is done (use a
// time.Ticker's channel). Failures are logged; the cache keeps its values.
func (s *Secret) RefreshLoop(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.logger().Warn("secret refresh failed; using the cached value", "secret", s.id, "error", err)
			}
		}
	}
}

func (s *Secret) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
