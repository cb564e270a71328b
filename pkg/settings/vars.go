package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// variable describes one environment variable: documentation and parsing.
type variable struct {
	Name    string
	Kind    string // boolean, integer, duration, string, secret, URL, enum, allowlist, IP list, path
	Default string // as documented; "" = none
	Modes   string // where it is used
	Help    string
	Secret  bool
	// apply parses the (trimmed unless secret) value into s; set reports
	// whether the variable was present. The error says what was expected.
	apply func(s *Settings, v string, set bool) error
	// show is the effective value for Redacted.
	show func(s *Settings) string
}

// Variable is the documentation of one environment variable, as listed by
// Variables.
type Variable struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Default string `json:"default,omitempty"`
	Modes   string `json:"modes"`
	Help    string `json:"help"`
	Secret  bool   `json:"secret,omitempty"`
}

// Variables documents every environment variable dispatcher reads, in
// documentation order.
func Variables() []Variable {
	out := make([]Variable, len(vars))
	for i, v := range vars {
		out[i] = Variable{Name: v.Name, Kind: v.Kind, Default: v.Default, Modes: v.Modes, Help: v.Help, Secret: v.Secret}
	}
	return out
}

// Markdown renders Variables as the Markdown table of
// docs/configuration.md (a test keeps the two in step).
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Variable | Kind | Default | Used by | Meaning |\n| --- | --- | --- | --- | --- |\n")
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "–"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", v.Name, v.Kind, def, v.Modes, strings.ReplaceAll(v.Help, "|", `\|`))
	}
	return b.String()
}

func strVar(name, def, modes, help string, field func(*Settings) *string) variable {
	return variable{
		Name: name, Kind: "string", Default: def, Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			if v == "" {
				v = def
			}
			*field(s) = v
			return nil
		},
		show: func(s *Settings) string { return *field(s) },
	}
}

func boolVar(name string, def bool, modes, help string, field func(*Settings) *bool) variable {
	return variable{
		Name: name, Kind: "boolean", Default: strconv.FormatBool(def), Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			b, err := parseBool(v, set, def)
			*field(s) = b
			return err
		},
		show: func(s *Settings) string { return strconv.FormatBool(*field(s)) },
	}
}

func intVar(name string, def, lo, hi int, modes, help string, field func(*Settings) *int) variable {
	return variable{
		Name: name, Kind: fmt.Sprintf("integer %d–%d", lo, hi), Default: strconv.Itoa(def), Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			n, err := parseInt(v, set, def, lo, hi)
			*field(s) = n
			return err
		},
		show: func(s *Settings) string { return strconv.Itoa(*field(s)) },
	}
}

func durationVar(name string, def, lo, hi time.Duration, modes, help string, field func(*Settings) *time.Duration) variable {
	return variable{
		Name: name, Kind: fmt.Sprintf("duration %s–%s", fmtDuration(lo), fmtDuration(hi)), Default: fmtDuration(def), Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			d, err := parseDuration(v, set, def, lo, hi)
			*field(s) = d
			return err
		},
		show: func(s *Settings) string { return fmtDuration(*field(s)) },
	}
}

// fmtDuration is d.String() without zero trailing units ("10m", not "10m0s").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func allowlistVar(name, def, modes, help string, field func(*Settings) *plan.Allowlist) variable {
	return variable{
		Name: name, Kind: "allowlist", Default: def, Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			if !set {
				v = def
			}
			*field(s) = plan.ParseAllowlist(v)
			return nil
		},
		show: func(s *Settings) string { return field(s).String() },
	}
}

func ipListVar(name, modes, help string, field func(*Settings) *IPList) variable {
	return variable{
		Name: name, Kind: "IP list", Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			l, err := ParseIPList(v)
			*field(s) = l
			return err
		},
		show: func(s *Settings) string { return field(s).String() },
	}
}

func urlVar(name, def, modes, help string, field func(*Settings) *string) variable {
	return variable{
		Name: name, Kind: "URL", Default: def, Modes: modes, Help: help,
		apply: func(s *Settings, v string, set bool) error {
			u, err := parseURL(v, set, def)
			*field(s) = u
			return err
		},
		show: func(s *Settings) string { return MaskURL(*field(s)) },
	}
}

func secretVar(name, modes, help string, field func(*Settings) *Secret, check func(string) (string, error)) variable {
	return variable{
		Name: name, Kind: "secret", Modes: modes, Help: help, Secret: true,
		apply: func(s *Settings, v string, set bool) error {
			if check != nil && v != "" {
				var err error
				if v, err = check(v); err != nil {
					return err
				}
			}
			*field(s) = NewSecret(v)
			return nil
		},
		show: func(s *Settings) string { return field(s).String() },
	}
}

const (
	modesAll       = "all"
	modesServe     = "serve"
	modesGitHub    = "serve, plan, planner, dispatcher"
	modesPlanner   = "serve, plan, simulate, planner"
	modesDispatch  = "serve, dispatcher"
	modesIngress   = "serve, ingress"
	modesAdmin     = "serve, admin"
	modesAWSAdmin  = "facts, admin"
	modesLambda    = "lambda"
	modesReplayDLQ = "replay-dlq"
)

// vars is every variable, in documentation order.
var vars = []variable{
	intVar("PORT", 3000, 1, 65535, modesServe, "TCP port `serve` listens on.", func(s *Settings) *int { return &s.Port }),
	{
		Name: "LOG_LEVEL", Kind: "enum", Default: "info", Modes: modesAll,
		Help: "Log level: fatal, error, warn, info, debug, trace or silent (nothing). Logs are JSON on stderr.",
		apply: func(s *Settings, v string, set bool) error {
			l, err := parseEnum(v, set, "info", logLevels)
			s.LogLevel = l
			return err
		},
		show: func(s *Settings) string { return s.LogLevel },
	},
	strVar("APP_VERSION", "local", modesAll, "Version reported by `/version`, the admin API and facts.", func(s *Settings) *string { return &s.AppVersion }),
	strVar("APP_IMAGE_SHA", "unknown", "serve, admin", "Image digest reported by the admin API.", func(s *Settings) *string { return &s.AppImageSHA }),
	strVar("HOSTNAME", "unknown", modesServe, "Host name reported by `/version`.", func(s *Settings) *string { return &s.Hostname }),

	{
		Name: "GITHUB_APP_ID", Kind: "integer", Modes: modesGitHub,
		Help: "The GitHub App's numeric id. Required by serve, plan, planner and dispatcher.",
		apply: func(s *Settings, v string, set bool) error {
			if v == "" {
				return nil
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return errExpected("the GitHub App's numeric id (a positive whole number)")
			}
			s.GitHubAppID = n
			return nil
		},
		show: func(s *Settings) string {
			if s.GitHubAppID == 0 {
				return ""
			}
			return strconv.FormatInt(s.GitHubAppID, 10)
		},
	},
	secretVar("GITHUB_APP_PRIVATE_KEY", modesGitHub,
		"The GitHub App's private key (PEM). `\\n` escapes in a one-line value are turned into newlines. Alternatives: `GITHUB_APP_PRIVATE_KEY_FILE`, or `GITHUB_APP_PRIVATE_KEY_ARN` on AWS.",
		func(s *Settings) *Secret { return &s.GitHubAppPrivateKey },
		func(v string) (string, error) {
			v = normalisePEM(v)
			if !strings.Contains(v, "-----BEGIN ") || !strings.Contains(v, "PRIVATE KEY-----") {
				return "", errNotPEM
			}
			return v, nil
		}),
	strVar("GITHUB_APP_PRIVATE_KEY_FILE", "", modesGitHub, "Path of a file holding the App's private key (PEM), instead of `GITHUB_APP_PRIVATE_KEY`.",
		func(s *Settings) *string { return &s.GitHubAppPrivateKeyFile }),
	strVar("GITHUB_APP_PRIVATE_KEY_ARN", "", "planner, dispatcher", "AWS Secrets Manager secret (ARN or name) holding the private key; used when `GITHUB_APP_PRIVATE_KEY` is unset or empty.",
		func(s *Settings) *string { return &s.GitHubAppPrivateKeyARN }),
	secretVar("GITHUB_WEBHOOK_SECRET", modesIngress, "The webhook secret (HMAC-SHA256). Required by serve; ingress needs it or `GITHUB_WEBHOOK_SECRET_ARN`.",
		func(s *Settings) *Secret { return &s.WebhookSecret }, nil),
	strVar("GITHUB_WEBHOOK_SECRET_ARN", "", "ingress", "AWS Secrets Manager secret (ARN or name) holding the webhook secret; used when `GITHUB_WEBHOOK_SECRET` is unset or empty.",
		func(s *Settings) *string { return &s.WebhookSecretARN }),
	urlVar("GITHUB_API_URL", "https://api.github.com", modesGitHub, "GitHub REST API base URL; for GitHub Enterprise Server use `https://HOST/api/v3`.",
		func(s *Settings) *string { return &s.GitHubAPIURL }),

	strVar("DEFAULT_DISPATCH_REF", "main", modesPlanner, "Ref dispatched when the target has no `ref` and the run's head branch is null.",
		func(s *Settings) *string { return &s.DefaultDispatchRef }),
	boolVar("ENFORCE_SOURCE_DEFAULT_BRANCH", true, modesPlanner, "Only runs on the source repository's default branch may dispatch.",
		func(s *Settings) *bool { return &s.EnforceSourceDefaultBranch }),
	intVar("DISPATCH_MAX_TARGETS_PER_RUN", plan.DefaultMaxTargetsPerRun, 1, 1000, modesPlanner, "Most targets one source run may dispatch; later candidates are denied `max_targets_exceeded`.",
		func(s *Settings) *int { return &s.MaxTargetsPerRun }),
	intVar("DISPATCH_MAX_CHAIN_DEPTH", plan.DefaultMaxChainDepth, 1, 100, modesPlanner, "Longest chain of dispatches (a run started by a dispatch is depth 1); deeper ones are denied `chain_depth_exceeded`.",
		func(s *Settings) *int { return &s.MaxChainDepth }),
	allowlistVar("SOURCE_REPO_ALLOWLIST", "", modesPlanner, "Source repositories (`owner/name`) allowed to dispatch; `*` is a wildcard; empty allows all.",
		func(s *Settings) *plan.Allowlist { return &s.SourceRepoAllowlist }),
	allowlistVar("TARGET_REPO_ALLOWLIST", "", modesPlanner, "Target repositories allowed to be dispatched; `*` is a wildcard; empty allows all.",
		func(s *Settings) *plan.Allowlist { return &s.TargetRepoAllowlist }),
	allowlistVar("SOURCE_WORKFLOW_ALLOWLIST", "", modesPlanner, "Source workflow file names (base names, e.g. `ci.yml`) allowed to dispatch; `*` is a wildcard; empty allows all.",
		func(s *Settings) *plan.Allowlist { return &s.SourceWorkflowAllowlist }),
	allowlistVar("ALLOWED_SOURCE_CONCLUSIONS", "success", modesPlanner, "Run conclusions that may dispatch, e.g. `success,skipped`; empty allows all (null included).",
		func(s *Settings) *plan.Allowlist { return &s.AllowedSourceConclusions }),

	intVar("DISPATCH_MAX_RETRIES", 2, 0, 20, modesDispatch, "Retries of a failed dispatch call (429, 5xx, network errors, secondary rate limits).",
		func(s *Settings) *int { return &s.DispatchMaxRetries }),
	{
		Name: "DISPATCH_RETRY_BASE_DELAY_MS", Kind: "integer 0–60000", Default: "200", Modes: modesDispatch,
		Help: "Base delay of the exponential backoff between retries, in milliseconds.",
		apply: func(s *Settings, v string, set bool) error {
			n, err := parseInt(v, set, 200, 0, 60000)
			s.RetryBaseDelay = time.Duration(n) * time.Millisecond
			return err
		},
		show: func(s *Settings) string { return strconv.FormatInt(s.RetryBaseDelay.Milliseconds(), 10) },
	},
	intVar("GITHUB_WRITES_PER_MINUTE", 80, 0, 100000, modesDispatch, "Dispatch POSTs per minute per installation (serial, paced under GitHub's secondary limit of 80 content-creating requests a minute); a burst waits instead of drawing 403s; 0 turns pacing off.",
		func(s *Settings) *int { return &s.GitHubWritesPerMinute }),
	durationVar("CONFIG_CACHE_TTL", 0, 0, 24*time.Hour, "serve, planner", "How long a cached `dispatching.yml` is used without asking GitHub; 0 revalidates it (ETag, a free 304) on every delivery. A `push` that changes it on the default branch evicts it at once.",
		func(s *Settings) *time.Duration { return &s.ConfigCacheTTL }),
	boolVar("CREATE_ISSUES", true, modesServe, "Open an issue with the dispatch results in the source repository.",
		func(s *Settings) *bool { return &s.CreateIssues }),

	durationVar("REPLAY_WINDOW", 10*time.Minute, time.Second, 7*24*time.Hour, modesIngress, "How long a delivery id is remembered; a repeat inside the window is answered 409.",
		func(s *Settings) *time.Duration { return &s.ReplayWindow }),
	intVar("WEBHOOK_RATE_LIMIT", 100, 0, 1000000, modesIngress, "Webhook requests per minute per client IP; 0 turns the limit off.",
		func(s *Settings) *int { return &s.WebhookRateLimit }),
	ipListVar("TRUSTED_PROXIES", "serve, ingress, admin", "Proxies (IPs, CIDRs) whose `X-Forwarded-For` is trusted to give the client address; empty trusts none.",
		func(s *Settings) *IPList { return &s.TrustedProxies }),
	ipListVar("ADMIN_IP_ALLOWLIST", modesAdmin, "Client addresses (IPs, CIDRs) allowed to reach `/admin`. On AWS, with neither this nor `ADMIN_TOKEN` set, admin answers 403.",
		func(s *Settings) *IPList { return &s.AdminIPAllowlist }),
	secretVar("ADMIN_TOKEN", modesAdmin, "Bearer token required by `/admin` and `/admin/api/*` when set.",
		func(s *Settings) *Secret { return &s.AdminToken }, nil),

	strVar("DISPATCHER_DB", "./dispatcher.db", "serve, replay-dlq", "Path of the embedded SQLite store.",
		func(s *Settings) *string { return &s.DBPath }),
	durationVar("QUEUE_VISIBILITY_TIMEOUT", 30*time.Second, time.Second, 12*time.Hour, "serve", "How long a received message of the embedded queues stays hidden before it is delivered again.",
		func(s *Settings) *time.Duration { return &s.QueueVisibilityTimeout }),
	intVar("QUEUE_MAX_RECEIVES", 5, 1, 1000, "serve", "Receives of a message of the embedded queues before it moves to the dead-letter queue.",
		func(s *Settings) *int { return &s.QueueMaxReceives }),
	intVar("PLANNER_CONCURRENCY", 16, 1, 1024, "serve", "Requests the planner handles at once (each waits on GitHub config reads and one commit).",
		func(s *Settings) *int { return &s.PlannerConcurrency }),
	intVar("DISPATCHER_CONCURRENCY", 16, 1, 1024, "serve", "Work items the dispatcher handles at once (dispatch POSTs stay serial per installation; the rest overlaps).",
		func(s *Settings) *int { return &s.DispatcherConcurrency }),

	{
		Name: "DISPATCHER_STAGE", Kind: "enum", Modes: modesLambda,
		Help: "The Lambda stage to run when `dispatcher lambda` gets no argument: ingress, planner, dispatcher, facts or admin.",
		apply: func(s *Settings, v string, set bool) error {
			st, err := parseEnum(v, set, "", stages)
			s.Stage = st
			return err
		},
		show: func(s *Settings) string { return s.Stage },
	},
	urlVar("DISPATCH_REQUESTS_QUEUE_URL", "", "ingress, replay-dlq", "SQS queue URL of dispatch requests (ingress → planner).",
		func(s *Settings) *string { return &s.RequestsQueueURL }),
	urlVar("DISPATCH_TARGETS_QUEUE_URL", "", "planner, replay-dlq", "SQS queue URL of dispatch targets (planner → dispatcher).",
		func(s *Settings) *string { return &s.TargetsQueueURL }),
	urlVar("DISPATCH_REQUESTS_DLQ_URL", "", modesReplayDLQ, "SQS dead-letter queue URL of the requests queue (for `replay-dlq`).",
		func(s *Settings) *string { return &s.RequestsDLQURL }),
	urlVar("DISPATCH_TARGETS_DLQ_URL", "", modesReplayDLQ, "SQS dead-letter queue URL of the targets queue (for `replay-dlq`).",
		func(s *Settings) *string { return &s.TargetsDLQURL }),
	urlVar("DISPATCH_FACTS_QUEUE_URL", "", "facts, replay-dlq", "SQS queue URL of the facts the EventBridge rule delivers (facts stage).",
		func(s *Settings) *string { return &s.FactsQueueURL }),
	urlVar("DISPATCH_FACTS_DLQ_URL", "", "facts, replay-dlq", "SQS dead-letter queue URL of the facts queue (permanent failures of the facts stage; `replay-dlq`).",
		func(s *Settings) *string { return &s.FactsDLQURL }),
	strVar("DISPATCH_FACTS_EVENT_BUS_NAME", "", "ingress, planner, dispatcher", "EventBridge bus the facts are published to.",
		func(s *Settings) *string { return &s.FactsEventBusName }),
	strVar("DISPATCH_EVENTS_TABLE_NAME", "", modesAWSAdmin, "DynamoDB table of the fact events.",
		func(s *Settings) *string { return &s.EventsTableName }),
	strVar("DISPATCH_PROJECTIONS_TABLE_NAME", "", modesAWSAdmin, "DynamoDB table of the projections (dashboard read models).",
		func(s *Settings) *string { return &s.ProjectionsTableName }),
	strVar("DISPATCH_STATE_TABLE_NAME", "", "ingress, dispatcher", "DynamoDB table of the replay guard and the dispatch idempotency claims.",
		func(s *Settings) *string { return &s.StateTableName }),
}
