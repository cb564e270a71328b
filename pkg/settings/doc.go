// Package settings holds every environment variable dispatcher reads: its
// name, default, validation and redaction. Commands call Load once (with
// os.LookupEnv) and pass the result on; nothing else reads the environment.
//
// Load checks every variable and returns one *Error listing all invalid
// ones, each with its value (secrets are never shown) and what was
// expected. MissingFor names the variables a mode (serve, plan, a Lambda
// stage) needs but lacks, so a command can print one message naming them
// all. Redacted lists the effective values with secrets shown as
// "(set, N bytes)" or "(unset)"; the Secret type redacts itself when
// printed, marshalled or logged.
//
// Parsing rules:
//   - unset: the default;
//   - booleans: true, false, 1, 0, yes, no in any case; set but empty means
//     false (so ENFORCE_SOURCE_DEFAULT_BRANCH= turns enforcement off, as in
//     the original); anything else is an error;
//   - allowlists: comma-separated, trimmed, lower-cased, "*" the only
//     wildcard; set but empty means an empty list, which allows everything;
//   - every other kind: set but empty counts as unset; integers are decimal
//     within their range; durations use Go syntax (30s, 10m, 1h); URLs are
//     absolute http(s) URLs; IP lists are comma-separated IPs and CIDRs;
//   - values are trimmed of surrounding spaces, secrets excepted.
//
// The variables (docs/configuration.md has the full table with meanings):
//
//	PORT                             integer 1–65535    3000
//	LOG_LEVEL                        enum               info
//	APP_VERSION                      string             local
//	APP_IMAGE_SHA                    string             unknown
//	HOSTNAME                         string             unknown
//	GITHUB_APP_ID                    integer            -
//	GITHUB_APP_PRIVATE_KEY           secret             -
//	GITHUB_APP_PRIVATE_KEY_FILE      string             -
//	GITHUB_APP_PRIVATE_KEY_ARN       string             -
//	GITHUB_WEBHOOK_SECRET            secret             -
//	GITHUB_WEBHOOK_SECRET_ARN        string             -
//	GITHUB_API_URL                   URL                https://api.github.com
//	DEFAULT_DISPATCH_REF             string             main
//	ENFORCE_SOURCE_DEFAULT_BRANCH    boolean            true
//	DISPATCH_MAX_TARGETS_PER_RUN     integer 1–1000     25
//	DISPATCH_MAX_CHAIN_DEPTH         integer 1–100      5
//	SOURCE_REPO_ALLOWLIST            allowlist          -
//	TARGET_REPO_ALLOWLIST            allowlist          -
//	SOURCE_WORKFLOW_ALLOWLIST        allowlist          -
//	ALLOWED_SOURCE_CONCLUSIONS       allowlist          success
//	DISPATCH_MAX_RETRIES             integer 0–20       2
//	DISPATCH_RETRY_BASE_DELAY_MS     integer 0–60000    200
//	GITHUB_WRITES_PER_MINUTE         integer 0–100000   80
//	CONFIG_CACHE_TTL                 duration 0s–24h    0s
//	CREATE_ISSUES                    boolean            true
//	REPLAY_WINDOW                    duration 1s–168h   10m
//	WEBHOOK_RATE_LIMIT               integer 0–1000000  100
//	TRUSTED_PROXIES                  IP list            -
//	ADMIN_IP_ALLOWLIST               IP list            -
//	ADMIN_TOKEN                      secret             -
//	DISPATCHER_DB                    string             ./dispatcher.db
//	QUEUE_VISIBILITY_TIMEOUT         duration 1s–12h    30s
//	QUEUE_MAX_RECEIVES               integer 1–1000     5
//	PLANNER_CONCURRENCY              integer 1–1024     16
//	DISPATCHER_CONCURRENCY           integer 1–1024     16
//	DISPATCHER_STAGE                 enum               -
//	DISPATCH_REQUESTS_QUEUE_URL      URL                -
//	DISPATCH_TARGETS_QUEUE_URL       URL                -
//	DISPATCH_REQUESTS_DLQ_URL        URL                -
//	DISPATCH_TARGETS_DLQ_URL         URL                -
//	DISPATCH_FACTS_QUEUE_URL         URL                -
//	DISPATCH_FACTS_DLQ_URL           URL                -
//	DISPATCH_FACTS_EVENT_BUS_NAME    string             -
//	DISPATCH_EVENTS_TABLE_NAME       string             -
//	DISPATCH_PROJECTIONS_TABLE_NAME  string             -
//	DISPATCH_STATE_TABLE_NAME        string             -
package settings
