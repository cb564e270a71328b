package settings

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// Settings is the validated configuration of every dispatcher command,
// read from environment variables by Load. Each field names its variable.
type Settings struct {
	// HTTP server and build information.
	Port        int    // PORT
	LogLevel    string // LOG_LEVEL: fatal, error, warn, info, debug, trace or silent
	AppVersion  string // APP_VERSION
	AppImageSHA string // APP_IMAGE_SHA
	Hostname    string // HOSTNAME

	// GitHub App.
	GitHubAppID             int64  // GITHUB_APP_ID; 0 when unset
	GitHubAppPrivateKey     Secret // GITHUB_APP_PRIVATE_KEY (PEM; "\n" escapes are turned into newlines)
	GitHubAppPrivateKeyFile string // GITHUB_APP_PRIVATE_KEY_FILE: a path to the PEM file (read by the caller)
	GitHubAppPrivateKeyARN  string // GITHUB_APP_PRIVATE_KEY_ARN (AWS Secrets Manager)
	WebhookSecret           Secret // GITHUB_WEBHOOK_SECRET
	WebhookSecretARN        string // GITHUB_WEBHOOK_SECRET_ARN (AWS Secrets Manager)
	GitHubAPIURL            string // GITHUB_API_URL, without a trailing "/"

	// Guardrails (see Policy).
	DefaultDispatchRef         string         // DEFAULT_DISPATCH_REF
	EnforceSourceDefaultBranch bool           // ENFORCE_SOURCE_DEFAULT_BRANCH
	MaxTargetsPerRun           int            // DISPATCH_MAX_TARGETS_PER_RUN
	MaxChainDepth              int            // DISPATCH_MAX_CHAIN_DEPTH
	SourceRepoAllowlist        plan.Allowlist // SOURCE_REPO_ALLOWLIST
	TargetRepoAllowlist        plan.Allowlist // TARGET_REPO_ALLOWLIST
	SourceWorkflowAllowlist    plan.Allowlist // SOURCE_WORKFLOW_ALLOWLIST
	AllowedSourceConclusions   plan.Allowlist // ALLOWED_SOURCE_CONCLUSIONS

	// Dispatch.
	DispatchMaxRetries int           // DISPATCH_MAX_RETRIES
	RetryBaseDelay     time.Duration // DISPATCH_RETRY_BASE_DELAY_MS
	CreateIssues       bool          // CREATE_ISSUES

	// GitHub pacing and caching.
	GitHubWritesPerMinute int           // GITHUB_WRITES_PER_MINUTE: dispatch POSTs per minute per installation; 0 = unpaced
	ConfigCacheTTL        time.Duration // CONFIG_CACHE_TTL: use a cached dispatching.yml without a request for this long; 0 = always revalidate

	// Webhook ingress and admin.
	ReplayWindow     time.Duration // REPLAY_WINDOW
	WebhookRateLimit int           // WEBHOOK_RATE_LIMIT, requests per minute per client IP; 0 = off
	TrustedProxies   IPList        // TRUSTED_PROXIES
	AdminIPAllowlist IPList        // ADMIN_IP_ALLOWLIST
	AdminToken       Secret        // ADMIN_TOKEN

	// Embedded store (serve).
	DBPath                 string        // DISPATCHER_DB
	QueueVisibilityTimeout time.Duration // QUEUE_VISIBILITY_TIMEOUT
	QueueMaxReceives       int           // QUEUE_MAX_RECEIVES
	PlannerConcurrency     int           // PLANNER_CONCURRENCY
	DispatcherConcurrency  int           // DISPATCHER_CONCURRENCY

	// AWS (lambda).
	Stage                string // DISPATCHER_STAGE: "" or one of Stages()
	RequestsQueueURL     string // DISPATCH_REQUESTS_QUEUE_URL
	TargetsQueueURL      string // DISPATCH_TARGETS_QUEUE_URL
	RequestsDLQURL       string // DISPATCH_REQUESTS_DLQ_URL
	TargetsDLQURL        string // DISPATCH_TARGETS_DLQ_URL
	FactsQueueURL        string // DISPATCH_FACTS_QUEUE_URL
	FactsDLQURL          string // DISPATCH_FACTS_DLQ_URL
	FactsEventBusName    string // DISPATCH_FACTS_EVENT_BUS_NAME
	EventsTableName      string // DISPATCH_EVENTS_TABLE_NAME
	ProjectionsTableName string // DISPATCH_PROJECTIONS_TABLE_NAME
	StateTableName       string // DISPATCH_STATE_TABLE_NAME

	// set records the variables that were present in the environment.
	set map[string]bool
}

// stages and logLevels are never modified; Stages and LogLevels return copies.
var (
	stages    = []string{"ingress", "planner", "dispatcher", "facts", "admin"}
	logLevels = []string{"fatal", "error", "warn", "info", "debug", "trace", "silent"}
)

// Stages returns the valid values of DISPATCHER_STAGE (and of `dispatcher
// lambda STAGE`).
func Stages() []string { return slices.Clone(stages) }

// LogLevels returns the valid values of LOG_LEVEL.
func LogLevels() []string { return slices.Clone(logLevels) }

// Policy returns the guardrails for the decision engine.
func (s *Settings) Policy() plan.Policy {
	return plan.Policy{
		EnforceSourceDefaultBranch: s.EnforceSourceDefaultBranch,
		AllowedSourceConclusions:   s.AllowedSourceConclusions,
		SourceRepoAllowlist:        s.SourceRepoAllowlist,
		SourceWorkflowAllowlist:    s.SourceWorkflowAllowlist,
		TargetRepoAllowlist:        s.TargetRepoAllowlist,
		MaxTargetsPerRun:           s.MaxTargetsPerRun,
		DefaultDispatchRef:         s.DefaultDispatchRef,
		MaxChainDepth:              s.MaxChainDepth,
	}
}

// IsSet reports whether the variable name was present in the environment
// (even if empty).
func (s *Settings) IsSet(name string) bool { return s.set[name] }

// SlogLevel maps LOG_LEVEL to a slog level: trace is below debug, fatal
// above error, and silent is above every level used (nothing is logged).
func (s *Settings) SlogLevel() slog.Level {
	switch s.LogLevel {
	case "trace":
		return slog.LevelDebug - 4
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	case "fatal":
		return slog.LevelError + 4
	case "silent":
		return slog.Level(1 << 20)
	default:
		return slog.LevelInfo
	}
}

// Load reads every variable through getenv (os.LookupEnv in production),
// applies defaults and validates. It returns one *Error listing every
// invalid variable, so a user can fix them all at once. Secret values never
// appear in the error.
//
// Conventions: an unset variable takes its default. A variable set to the
// empty string counts as unset, except booleans (empty means false, so
// ENFORCE_SOURCE_DEFAULT_BRANCH= turns enforcement off, as in the original)
// and allowlists (empty means an empty list, which allows everything).
// Surrounding spaces are trimmed from every value except secrets.
func Load(getenv func(string) (string, bool)) (*Settings, error) {
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	s := &Settings{set: map[string]bool{}}
	var problems []Problem
	for _, v := range vars {
		raw, ok := getenv(v.Name)
		if ok {
			s.set[v.Name] = true
		}
		val := raw
		if !v.Secret {
			val = strings.TrimSpace(raw)
		}
		if err := v.apply(s, val, ok); err != nil {
			shown := raw
			switch {
			case v.Secret:
				shown = redact(raw, ok)
			case v.Kind == "URL":
				shown = MaskURL(raw)
			}
			problems = append(problems, Problem{Name: v.Name, Value: shown, Expected: err.Error(), Secret: v.Secret})
		}
	}
	problems = append(problems, crossChecks(s)...)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return s, nil
}

// crossChecks are the rules that involve more than one variable.
func crossChecks(s *Settings) []Problem {
	var out []Problem
	if s.GitHubAppPrivateKey.IsSet() && s.GitHubAppPrivateKeyFile != "" {
		out = append(out, Problem{Name: "GITHUB_APP_PRIVATE_KEY_FILE", Value: s.GitHubAppPrivateKeyFile,
			Expected: "only one of GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_FILE"})
	}
	return out
}

// Problem is one invalid variable.
type Problem struct {
	Name string
	// Value is the value as set, or a redaction such as "(set, 12 bytes)"
	// for secrets.
	Value string
	// Expected says what a valid value looks like.
	Expected string
	Secret   bool
}

// String returns the text form.
func (p Problem) String() string {
	if p.Secret {
		return fmt.Sprintf("%s %s: expected %s", p.Name, p.Value, p.Expected)
	}
	return fmt.Sprintf("%s=%q: expected %s", p.Name, p.Value, p.Expected)
}

// Error lists every invalid environment variable.
type Error struct {
	Problems []Problem
}

// Error returns the message (it implements error).
func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid environment variable: ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "%d invalid environment variables:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Secret holds a sensitive value. Its String, GoString, MarshalText and
// LogValue forms are redacted ("(set, N bytes)" or "(unset)"), so printing
// or logging a Settings never shows it; call Value for the real thing.
type Secret struct {
	value string
}

// NewSecret wraps v (for tests and for values read from files or AWS).
func NewSecret(v string) Secret { return Secret{value: v} }

// Value is the secret itself.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.value != "" }

// String is the redacted form.
func (s Secret) String() string { return redact(s.value, s.value != "") }

// GoString is the redacted form (for %#v).
func (s Secret) GoString() string { return s.String() }

// MarshalText is the redacted form (for JSON and text encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue is the redacted form (for log/slog).
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

func redact(v string, set bool) string {
	if !set {
		return "(unset)"
	}
	return fmt.Sprintf("(set, %d bytes)", len(v))
}

// IPList is a list of IP prefixes (a bare IP is a /32 or /128).
type IPList []netip.Prefix

// Contains reports whether addr is in the list (IPv4-mapped IPv6 addresses
// are compared as IPv4).
func (l IPList) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range l {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// String is the comma-separated list.
func (l IPList) String() string {
	s := make([]string, len(l))
	for i, p := range l {
		if p.IsSingleIP() {
			s[i] = p.Addr().String()
		} else {
			s[i] = p.String()
		}
	}
	return strings.Join(s, ",")
}

// ParseIPList parses a comma-separated list of IP addresses and CIDR
// prefixes; empty items are ignored. The error names every bad item.
func ParseIPList(raw string) (IPList, error) {
	var out IPList
	var bad []string
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				bad = append(bad, strconv.Quote(item))
				continue
			}
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			bad = append(bad, strconv.Quote(item))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("IP addresses or CIDR prefixes (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32), comma-separated; not valid: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// unmapBits is 96 for an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n), so that
// it becomes an IPv4 prefix.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

// Modes for MissingFor.
const (
	ModeServe      = "serve"      // dispatcher serve
	ModePlan       = "plan"       // dispatcher plan (GitHub, read-only)
	ModeIngress    = "ingress"    // lambda stage
	ModePlanner    = "planner"    // lambda stage
	ModeDispatcher = "dispatcher" // lambda stage
	ModeFacts      = "facts"      // lambda stage
	ModeAdmin      = "admin"      // lambda stage
)

// MissingFor lists the variables a mode needs that are not set, in a fixed
// order; an alternative is named in parentheses, e.g.
// "GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)". Modes that
// need nothing (validate, simulate, unknown modes) give nil.
//
//   - serve: GITHUB_WEBHOOK_SECRET, GITHUB_APP_ID and the private key;
//   - plan: GITHUB_APP_ID and the private key;
//   - ingress: the webhook secret (or its ARN), DISPATCH_REQUESTS_QUEUE_URL,
//     DISPATCH_FACTS_EVENT_BUS_NAME, DISPATCH_STATE_TABLE_NAME;
//   - planner: GITHUB_APP_ID, the private key (or its ARN),
//     DISPATCH_TARGETS_QUEUE_URL, DISPATCH_FACTS_EVENT_BUS_NAME;
//   - dispatcher: GITHUB_APP_ID, the private key (or its ARN),
//     DISPATCH_FACTS_EVENT_BUS_NAME, DISPATCH_STATE_TABLE_NAME;
//   - facts and admin: DISPATCH_EVENTS_TABLE_NAME and
//     DISPATCH_PROJECTIONS_TABLE_NAME.
func (s *Settings) MissingFor(mode string) []string {
	var out []string
	need := func(ok bool, what string) {
		if !ok {
			out = append(out, what)
		}
	}
	appID := func() { need(s.GitHubAppID != 0, "GITHUB_APP_ID") }
	localKey := func() {
		need(s.GitHubAppPrivateKey.IsSet() || s.GitHubAppPrivateKeyFile != "", "GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)")
	}
	awsKey := func() {
		need(s.GitHubAppPrivateKey.IsSet() || s.GitHubAppPrivateKeyFile != "" || s.GitHubAppPrivateKeyARN != "",
			"GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE or GITHUB_APP_PRIVATE_KEY_ARN)")
	}
	bus := func() { need(s.FactsEventBusName != "", "DISPATCH_FACTS_EVENT_BUS_NAME") }
	state := func() { need(s.StateTableName != "", "DISPATCH_STATE_TABLE_NAME") }
	switch mode {
	case ModeServe:
		need(s.WebhookSecret.IsSet(), "GITHUB_WEBHOOK_SECRET")
		appID()
		localKey()
	case ModePlan:
		appID()
		localKey()
	case ModeIngress:
		need(s.WebhookSecret.IsSet() || s.WebhookSecretARN != "", "GITHUB_WEBHOOK_SECRET (or GITHUB_WEBHOOK_SECRET_ARN)")
		need(s.RequestsQueueURL != "", "DISPATCH_REQUESTS_QUEUE_URL")
		bus()
		state()
	case ModePlanner:
		appID()
		awsKey()
		need(s.TargetsQueueURL != "", "DISPATCH_TARGETS_QUEUE_URL")
		bus()
	case ModeDispatcher:
		appID()
		awsKey()
		bus()
		state()
	case ModeFacts, ModeAdmin:
		need(s.EventsTableName != "", "DISPATCH_EVENTS_TABLE_NAME")
		need(s.ProjectionsTableName != "", "DISPATCH_PROJECTIONS_TABLE_NAME")
	}
	return out
}

// MissingError returns an error naming every variable MissingFor(mode)
// lists, or nil when nothing is missing.
func (s *Settings) MissingError(mode string) error {
	missing := s.MissingFor(mode)
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s needs these environment variables, which are not set: %s", mode, strings.Join(missing, ", "))
}

// Var is one variable in the redacted view.
type Var struct {
	Name string `json:"name"`
	// Value is the effective value (the default when unset); secrets are
	// "(set, N bytes)" or "(unset)".
	Value string `json:"value"`
	// Set reports whether the variable was present in the environment.
	Set    bool `json:"set"`
	Secret bool `json:"secret,omitempty"`
}

// Redacted lists every variable with its effective value, secrets
// redacted, in documentation order. It is safe to print or log.
func (s *Settings) Redacted() []Var {
	out := make([]Var, 0, len(vars))
	for _, v := range vars {
		out = append(out, Var{Name: v.Name, Value: v.show(s), Set: s.set[v.Name], Secret: v.Secret})
	}
	return out
}

// errExpected builds the "expected ..." text of a problem.
func errExpected(format string, args ...any) error { return fmt.Errorf(format, args...) }

// parseBool is the strict boolean: true/false/1/0/yes/no in any case; an
// unset variable takes def; an empty value is false.
func parseBool(v string, set, def bool) (bool, error) {
	if !set {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "":
		return false, nil
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, errExpected("a boolean: true, false, 1, 0, yes or no (empty means false)")
}

// parseInt parses a decimal integer in [lo, hi]; empty or unset gives def.
func parseInt(v string, set bool, def, lo, hi int) (int, error) {
	if !set || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errExpected("a whole number from %d to %d", lo, hi)
	}
	return n, nil
}

// parseDuration parses a Go duration ("90s", "10m", "1h30m") in [lo, hi];
// empty or unset gives def.
func parseDuration(v string, set bool, def, lo, hi time.Duration) (time.Duration, error) {
	if !set || v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, errExpected("a duration such as 30s, 10m or 1h, from %s to %s", fmtDuration(lo), fmtDuration(hi))
	}
	return d, nil
}

// maskedValue replaces a hidden part of a URL.
const maskedValue = "xxxxx"

// MaskURL returns raw with every part that may hold a credential replaced
// by "xxxxx": the password of the user info, each query value (a
// "?token=…" or an S3-style signature) and the fragment. Names and the rest
// of the address stay, so the message still says which URL is wrong. It
// works on text that does not parse as a URL too, so it is safe to call on
// any value before showing it in an error, a log line or --print-config.
func MaskURL(raw string) string {
	rest, frag, hasFrag := strings.Cut(raw, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	// User info: between "scheme://" (or the start) and the first "/".
	start := 0
	if i := strings.Index(rest, "://"); i >= 0 {
		start = i + 3
	}
	authEnd := len(rest)
	if i := strings.IndexByte(rest[start:], '/'); i >= 0 {
		authEnd = start + i
	}
	if at := strings.LastIndexByte(rest[start:authEnd], '@'); at >= 0 {
		user := rest[start : start+at]
		if name, _, ok := strings.Cut(user, ":"); ok {
			rest = rest[:start] + name + ":" + maskedValue + rest[start+at:]
		}
	}
	var b strings.Builder
	b.WriteString(rest)
	if hasQuery {
		b.WriteByte('?')
		for i, pair := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			name, _, _ := strings.Cut(pair, "=")
			if pair == "" {
				continue
			}
			b.WriteString(name + "=" + maskedValue)
		}
	}
	if hasFrag {
		b.WriteString("#")
		if frag != "" {
			b.WriteString(maskedValue)
		}
	}
	return b.String()
}

// parseURL checks an absolute http(s) URL without credentials, query or
// fragment; empty or unset gives def. A trailing "/" is removed.
func parseURL(v string, set bool, def string) (string, error) {
	if !set || v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return "", errExpected("an absolute http:// or https:// URL")
	case u.User != nil:
		return "", errExpected("a URL without user name or password in it")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errExpected("a URL without a query or fragment")
	}
	return strings.TrimRight(v, "/"), nil
}

func parseEnum(v string, set bool, def string, allowed []string) (string, error) {
	if !set || v == "" {
		return def, nil
	}
	l := strings.ToLower(v)
	if !slices.Contains(allowed, l) {
		return "", errExpected("one of %s", strings.Join(allowed, ", "))
	}
	return l, nil
}

// normalisePEM turns literal "\n" escapes into newlines when the value has
// no real newline (a PEM pasted into a one-line .env file).
func normalisePEM(v string) string {
	if !strings.Contains(v, "\n") && strings.Contains(v, `\n`) {
		return strings.ReplaceAll(v, `\n`, "\n")
	}
	return v
}

var errNotPEM = errors.New("a PEM private key (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)")
