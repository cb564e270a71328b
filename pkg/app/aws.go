package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/facts"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// DefaultSecretRefresh is how often the AWS runtime refreshes its Secrets
// Manager secrets in the background.
const DefaultSecretRefresh = time.Minute

// AWSOptions are the parts of NewAWS that are not settings.
type AWSOptions struct {
	// Config is the SDK configuration (awsinfra.LoadConfig). Required.
	Config aws.Config
	// Now is the clock of the stages and the adapters (time.Now when nil).
	Now func() time.Time
	// HTTPClient is the GitHub adapter's HTTP client.
	HTTPClient *http.Client
	// GitHubOptions are added to the GitHub adapter's options.
	GitHubOptions []ghapp.Option
	// WrapPorts may replace or wrap ports before the stages are wired
	// (fault injection in tests).
	WrapPorts func(*Ports)
	// ClaimLease is the dispatcher's claim lease (pipeline.DefaultClaimLease
	// when 0); it must exceed the dispatcher function's timeout.
	ClaimLease time.Duration
	// Concurrency bounds the messages of one SQS batch handled at once (the
	// batch size when 0, at most 10).
	Concurrency int
	// RetryDelay overrides the delay before a failed message is received
	// again (awsinfra.DefaultRetryDelay when nil).
	RetryDelay func(m pipeline.Message, err error) time.Duration
}

// AWS is one stage of the AWS runtime, as a Lambda function runs it: the
// ingress and admin stages answer HTTP (API Gateway HTTP API events), the
// planner, dispatcher and facts stages handle SQS batches.
type AWS struct {
	// Stage is ingress, planner, dispatcher, facts or admin.
	Stage string
	// Stages are the wired pipeline stages (every stage builds them; only
	// the parts of its own stage are used).
	Stages *Stages
	// HTTP is the handler of the ingress and admin stages (nil otherwise).
	HTTP http.Handler
	// Batch handles SQS batches for planner, dispatcher and facts (nil
	// otherwise).
	Batch *awsinfra.BatchRunner
	// Projections reads the read models (facts and admin stages).
	Projections *awsinfra.Projections

	stop context.CancelFunc
}

// Close stops the background secret refresh.
func (a *AWS) Close() {
	if a.stop != nil {
		a.stop()
	}
}

// unavailable is a port a stage does not use: calling it is a bug, and an
// error says so instead of a nil dereference.
type unavailable struct{ stage, port string }

func (u unavailable) err() error {
	return fmt.Errorf("%s is not available in the %s stage", u.port, u.stage)
}

func (u unavailable) Enqueue(context.Context, string, []byte) error { return u.err() }
func (u unavailable) Configs(int64) plan.ConfigLookup               { return nil }
func (u unavailable) ReadConfigs(context.Context, int64, string, func(plan.ConfigResult) []string) (plan.ConfigResult, plan.ConfigLookup, error) {
	return plan.ConfigResult{}, nil, u.err()
}
func (u unavailable) Dispatch(context.Context, pipeline.DispatchRequest) (pipeline.DispatchResult, error) {
	return pipeline.DispatchResult{}, u.err()
}
func (u unavailable) FindDispatchedRun(context.Context, int64, string, string, time.Time) (pipeline.DispatchResult, bool, error) {
	return pipeline.DispatchResult{}, false, u.err()
}
func (u unavailable) Publish(context.Context, ...facts.Event) error { return u.err() }
func (u unavailable) CreateIssue(context.Context, int64, string, string, string) error {
	return u.err()
}

// NewAWS builds the stage of the AWS runtime named stage from the
// settings (s.MissingFor(stage) must be empty) and the SDK configuration:
// SQS queues, the EventBridge bus, the DynamoDB state, events and
// projections tables, Secrets Manager for the _ARN variables, and the
// GitHub App client for planner and dispatcher. Configuration problems
// are *ConfigError. Call Close when done.
func NewAWS(ctx context.Context, s *settings.Settings, stage string, info BuildInfo, logger *slog.Logger, o AWSOptions) (*AWS, error) {
	if s == nil {
		return nil, errors.New("app: settings are required")
	}
	if !slices.Contains(settings.Stages(), stage) {
		return nil, &ConfigError{Err: fmt.Errorf("unknown stage %q (want one of %v)", stage, settings.Stages())}
	}
	if err := s.MissingError(stage); err != nil {
		return nil, &ConfigError{Err: err}
	}
	// The planner reads lineage from the state table too.
	if stage == settings.ModePlanner && s.StateTableName == "" {
		return nil, &ConfigError{Err: errors.New("planner needs DISPATCH_STATE_TABLE_NAME (lineage of dispatched runs)")}
	}
	if logger == nil {
		logger = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	c := awsinfra.NewClients(o.Config)
	a := &AWS{Stage: stage}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	fail := func(err error) (*AWS, error) { stop(); return nil, err }

	state := awsinfra.NewState(c.DynamoDB, s.StateTableName, awsinfra.StateOptions{Now: now, ReplayWindow: s.ReplayWindow})
	ports := Ports{
		Requests: unavailable{stage, "the requests queue"}, Targets: unavailable{stage, "the targets queue"},
		Replay: state.Replay(), Facts: unavailable{stage, "the fact bus"},
		Claims: state, Lineage: state, Outcomes: state,
		GitHub: unavailable{stage, "GitHub"}, Issues: unavailable{stage, "GitHub"},
	}
	if s.RequestsQueueURL != "" {
		ports.Requests = awsinfra.NewQueue(c.SQS, s.RequestsQueueURL)
	}
	if s.TargetsQueueURL != "" {
		ports.Targets = awsinfra.NewQueue(c.SQS, s.TargetsQueueURL)
	}
	if s.FactsEventBusName != "" {
		ports.Facts = awsinfra.NewBus(c.EventBridge, s.FactsEventBusName)
	}
	if s.EventsTableName != "" && s.ProjectionsTableName != "" {
		a.Projections = awsinfra.NewProjections(c.DynamoDB, s.EventsTableName, s.ProjectionsTableName)
	}

	// Secrets: the stages' own copy of the settings holds the resolved
	// values. Only ingress verifies webhooks; the other stages get a
	// random secret nobody knows, so a webhook sent to them is refused.
	st := *s
	var webhookSecrets pipeline.WebhookSecrets
	switch {
	case stage == settings.ModeIngress && !s.WebhookSecret.IsSet():
		sec := awsinfra.NewSecret(c.SecretsManager, s.WebhookSecretARN)
		sec.Now, sec.Logger = now, logger
		cur, err := sec.Current(ctx)
		if err != nil {
			return fail(&ConfigError{Err: fmt.Errorf("GITHUB_WEBHOOK_SECRET_ARN: %w", err)})
		}
		st.WebhookSecret = settings.NewSecret(string(cur))
		webhookSecrets = sec
		t := time.NewTicker(DefaultSecretRefresh)
		go func() { defer t.Stop(); sec.RefreshLoop(bg, t.C) }()
	case stage != settings.ModeIngress:
		b := make([]byte, 32)
		rand.Read(b)
		st.WebhookSecret = settings.NewSecret(hex.EncodeToString(b))
	}

	if stage == settings.ModePlanner || stage == settings.ModeDispatcher {
		key, err := awsPrivateKey(ctx, s, c)
		if err != nil {
			return fail(err)
		}
		gh, err := newGitHub(s, info, key, o.HTTPClient, o.GitHubOptions)
		if err != nil {
			return fail(err)
		}
		ports.GitHub, ports.Issues = gh, gh
	}
	if stage == settings.ModeFacts {
		ports.Facts = awsinfra.NewFactStore(c.DynamoDB, s.EventsTableName, s.ProjectionsTableName)
	}
	if o.WrapPorts != nil {
		o.WrapPorts(&ports)
	}
	stages, err := BuildStages(&st, ports, StageOptions{Build: info, Now: now, Logger: logger, ClaimLease: o.ClaimLease, WebhookSecrets: webhookSecrets})
	if err != nil {
		return fail(err)
	}
	a.Stages = stages

	switch stage {
	case settings.ModeIngress, settings.ModeAdmin:
		a.HTTP = stages.HTTP
	case settings.ModePlanner, settings.ModeDispatcher, settings.ModeFacts:
		r := &awsinfra.BatchRunner{SQS: c.SQS, MaxReceives: awsinfra.MaxReceiveCount, Concurrency: o.Concurrency, RetryDelay: o.RetryDelay, Logger: logger}
		switch stage {
		case settings.ModePlanner:
			r.Handle, r.QueueURL, r.DLQURL = stages.Planner.HandleMessage, s.RequestsQueueURL, s.RequestsDLQURL
		case settings.ModeDispatcher:
			r.Handle, r.QueueURL, r.DLQURL = stages.Dispatcher.HandleMessage, s.TargetsQueueURL, s.TargetsDLQURL
		case settings.ModeFacts:
			fp, err := pipeline.NewFactsProcessor(ports.Facts, logger)
			if err != nil {
				return fail(err)
			}
			r.Handle = func(ctx context.Context, m pipeline.Message) error {
				e, err := awsinfra.DecodeFact(m.Body)
				if err != nil {
					return pipeline.PermanentError("facts message", err)
				}
				return fp.HandleFacts(ctx, e)
			}
			r.QueueURL, r.DLQURL = s.FactsQueueURL, s.FactsDLQURL
		}
		if r.Concurrency <= 0 {
			r.Concurrency = awsinfra.MaxBatchEntries
		}
		a.Batch = r
	}
	return a, nil
}

// awsPrivateKey returns the GitHub App private key: the variable or file
// when set, else the Secrets Manager secret GITHUB_APP_PRIVATE_KEY_ARN.
func awsPrivateKey(ctx context.Context, s *settings.Settings, c awsinfra.Clients) ([]byte, error) {
	if s.GitHubAppPrivateKey.IsSet() || s.GitHubAppPrivateKeyFile != "" || s.GitHubAppPrivateKeyARN == "" {
		return PrivateKey(s)
	}
	key, err := awsinfra.NewSecret(c.SecretsManager, s.GitHubAppPrivateKeyARN).Current(ctx)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("GITHUB_APP_PRIVATE_KEY_ARN: %w", err)}
	}
	return key, nil
}

// newGitHub builds the GitHub App client the way serve does.
func newGitHub(s *settings.Settings, info BuildInfo, key []byte, hc *http.Client, extra []ghapp.Option) (*ghapp.Client, error) {
	opts := []ghapp.Option{
		ghapp.WithMaxRetries(s.DispatchMaxRetries),
		ghapp.WithBaseDelay(s.RetryBaseDelay),
		ghapp.WithUserAgent("dispatcher/" + info.Version),
	}
	if s.GitHubAPIURL != "" {
		opts = append(opts, ghapp.WithBaseURL(s.GitHubAPIURL+"/"))
	}
	if hc != nil {
		opts = append(opts, ghapp.WithHTTPClient(hc))
	}
	gh, err := ghapp.New(s.GitHubAppID, key, append(opts, extra...)...)
	if err != nil {
		if errors.Is(err, ghapp.ErrBadPrivateKey) {
			return nil, &ConfigError{Err: fmt.Errorf("GitHub App private key: %w", err)}
		}
		return nil, fmt.Errorf("github client: %w", err)
	}
	return gh, nil
}
