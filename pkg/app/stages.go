package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// BuildInfo describes the binary (reported by GET /version and logged at
// startup).
type BuildInfo = httpapi.BuildInfo

// Ports are the adapters the stages run on. A runtime fills them (NewLocal
// from SQLite and the GitHub App client; the AWS runtime from SQS,
// EventBridge and DynamoDB) and BuildStages wires them.
type Ports struct {
	// Apply makes a step's effects durable. When nil, BuildStages applies
	// them through the ports below (pipeline.PortApplier: the AWS order);
	// the embedded runtime sets its store, which applies a step in one
	// transaction.
	Apply    pipeline.Applier
	Requests pipeline.Enqueuer      // the requests queue (ingress → planner)
	Targets  pipeline.Enqueuer      // the targets queue (planner → dispatcher)
	Replay   pipeline.ReplayGuard   // webhook delivery ids
	Facts    pipeline.FactPublisher // facts and projections
	Claims   pipeline.Claims        // dispatch idempotency records
	Lineage  pipeline.Lineage       // chains of dispatched runs
	Outcomes pipeline.Outcomes      // per-target outcomes (CREATE_ISSUES)
	GitHub   pipeline.GitHub        // configs, dispatch, run search
	Issues   pipeline.IssueCreator  // result issues (CREATE_ISSUES)
}

func (p Ports) check() error {
	var missing []string
	for name, ok := range map[string]bool{
		"requests queue": p.Requests != nil, "targets queue": p.Targets != nil,
		"replay guard": p.Replay != nil, "fact publisher": p.Facts != nil,
		"claims": p.Claims != nil, "lineage": p.Lineage != nil, "GitHub": p.GitHub != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("ports missing: %v", missing)
	}
	return nil
}

// Stages are the pipeline stages and the HTTP server built from Ports.
type Stages struct {
	Ingress    *pipeline.Ingress
	Planner    *pipeline.Planner
	Dispatcher *pipeline.Dispatcher
	HTTP       *httpapi.Server
}

// StageOptions are the parts of BuildStages that are not settings.
type StageOptions struct {
	Build  BuildInfo
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
	// ClaimLease is the dispatcher's claim lease
	// (pipeline.DefaultClaimLease when 0).
	ClaimLease time.Duration
	// WebhookSecrets, when set, supplies the webhook secrets instead of
	// GITHUB_WEBHOOK_SECRET (Secrets Manager, where both AWSCURRENT and
	// AWSPREVIOUS verify during a rotation).
	WebhookSecrets pipeline.WebhookSecrets
	// Admin, when set, serves the admin routes from this read side.
	Admin httpapi.AdminReader
}

// BuildStages wires the stages over p according to s. It is shared by
// every runtime: it knows the ports, not their implementations. Every
// stage gets o.Logger, so each line about a delivery carries its
// correlation_id.
func BuildStages(s *settings.Settings, p Ports, o StageOptions) (*Stages, error) {
	if s == nil {
		return nil, errors.New("build stages: settings are required")
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("build stages: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if s.CreateIssues && (p.Issues == nil || p.Outcomes == nil) {
		return nil, errors.New("build stages: CREATE_ISSUES needs an issue creator and an outcome store")
	}
	apply := p.Apply
	if apply == nil {
		apply = pipeline.PortApplier{
			Queues: map[string]pipeline.Enqueuer{pipeline.QueueRequests: p.Requests, pipeline.QueueTargets: p.Targets},
			Replay: p.Replay, Facts: p.Facts, Claims: p.Claims, Lineage: p.Lineage, Outcomes: p.Outcomes, Logger: log,
		}
	}
	in, err := pipeline.NewIngress(pipeline.IngressConfig{
		Secret: []byte(s.WebhookSecret.Value()), Secrets: o.WebhookSecrets, Apply: apply, Now: o.Now, Logger: log,
		OnPush: pushEvicter(p.GitHub, log),
	})
	if err != nil {
		return nil, fmt.Errorf("build stages: %w", err)
	}
	pc := pipeline.PlannerConfig{
		Apply: apply, Lineage: p.Lineage, GitHub: p.GitHub, Policy: s.Policy(),
		Now: o.Now, Logger: log,
	}
	dc := pipeline.DispatcherConfig{
		Apply: apply, Claims: p.Claims, GitHub: p.GitHub,
		ClaimLease: o.ClaimLease, Now: o.Now, Logger: log,
	}
	if s.CreateIssues {
		pc.CreateIssues, pc.Issues, pc.Outcomes, pc.Claims = true, p.Issues, p.Outcomes, p.Claims
		dc.Issues, dc.Outcomes = p.Issues, p.Outcomes
	}
	planner, err := pipeline.NewPlanner(pc)
	if err != nil {
		return nil, fmt.Errorf("build stages: %w", err)
	}
	dispatcher, err := pipeline.NewDispatcher(dc)
	if err != nil {
		return nil, fmt.Errorf("build stages: %w", err)
	}
	hc := httpapi.Config{
		Ingress: in, Build: o.Build, RateLimit: s.WebhookRateLimit, AppVersion: s.AppVersion,
		TrustedProxies: []netip.Prefix(s.TrustedProxies), Now: o.Now, Logger: log,
	}
	if o.Admin != nil {
		hc.Admin = &httpapi.AdminConfig{Reader: o.Admin, Token: s.AdminToken.Value(),
			Allowlist: []netip.Prefix(s.AdminIPAllowlist), AppVersion: s.AppVersion, ImageSHA: s.AppImageSHA,
			Secrets: []string{s.WebhookSecret.Value(), s.GitHubAppPrivateKey.Value(), s.AdminToken.Value()}}
	}
	srv, err := httpapi.New(hc)
	if err != nil {
		return nil, fmt.Errorf("build stages: %w", err)
	}
	return &Stages{Ingress: in, Planner: planner, Dispatcher: dispatcher, HTTP: srv}, nil
}

// ConfigError is a problem with the configuration found while building the
// runtime (an unreadable or invalid private key, for example): the
// operator must change a setting. Commands report it as a usage error.
type ConfigError struct{ Err error }

// Error returns the message (it implements error).
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *ConfigError) Unwrap() error { return e.Err }

// MaxPrivateKeySize caps GITHUB_APP_PRIVATE_KEY_FILE: a GitHub App key is a
// few kilobytes, so a larger file is the wrong file.
const MaxPrivateKeySize = 64 << 10

// PrivateKey returns the GitHub App private key from
// GITHUB_APP_PRIVATE_KEY or the file named by GITHUB_APP_PRIVATE_KEY_FILE
// (at most MaxPrivateKeySize bytes), checked to be a usable RSA key. Errors
// are *ConfigError with one line naming the variable (and the path) and
// what is wrong (a missing file, DER instead of PEM, a PEM whose line
// breaks were lost, an Ed25519 key), never the key itself.
func PrivateKey(s *settings.Settings) ([]byte, error) {
	source := "GITHUB_APP_PRIVATE_KEY"
	var data []byte
	if s.GitHubAppPrivateKey.IsSet() {
		data = []byte(s.GitHubAppPrivateKey.Value())
	} else {
		path := s.GitHubAppPrivateKeyFile
		if path == "" {
			return nil, &ConfigError{Err: errors.New("GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE) is not set")}
		}
		source = "GITHUB_APP_PRIVATE_KEY_FILE " + path
		f, err := os.Open(path)
		if err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("%s: %w", source, pathCause(err))}
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, &ConfigError{Err: fmt.Errorf("%s: is a directory (expected the App's .pem file)", source)}
		}
		data, err = io.ReadAll(io.LimitReader(f, MaxPrivateKeySize+1))
		if err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("%s: %w", source, pathCause(err))}
		}
		if len(data) > MaxPrivateKeySize {
			return nil, &ConfigError{Err: fmt.Errorf("%s: larger than %d bytes, not a GitHub App private key", source, MaxPrivateKeySize)}
		}
	}
	if _, err := ghapp.ParsePrivateKey(data); err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("%s: %w", source, err)}
	}
	return data, nil
}

// pushEvicter returns the ingress hook that evicts a repository's cached
// dispatching.yml when a push changed it on the default branch (nil when
// the GitHub port keeps no cache).
func pushEvicter(gh pipeline.GitHub, log *slog.Logger) func([]byte) {
	ev, ok := gh.(interface{ EvictConfig(repository string) })
	if !ok {
		return nil
	}
	return func(body []byte) {
		repo, changed, err := ghapp.ConfigPush(body)
		switch {
		case err != nil:
			log.Warn("push webhook not understood; no cache eviction", "error", err)
		case changed:
			ev.EvictConfig(repo)
			log.Info("dispatching.yml changed by a push; cached copy evicted", "repository", repo)
		}
	}
}

// pathCause drops the operation and path that os errors repeat ("open
// /x/app.pem: no such file or directory" becomes "no such file or
// directory"): the caller names the path once.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
