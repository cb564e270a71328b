package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// env is a fake environment.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

const testPEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n"

func mustLoad(t *testing.T, kv ...string) *Settings {
	t.Helper()
	s, err := Load(env(kv...))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func TestDefaults(t *testing.T) {
	s := mustLoad(t)
	checks := []struct {
		name      string
		got, want any
	}{
		{"PORT", s.Port, 3000},
		{"LOG_LEVEL", s.LogLevel, "info"},
		{"APP_VERSION", s.AppVersion, "local"},
		{"APP_IMAGE_SHA", s.AppImageSHA, "unknown"},
		{"HOSTNAME", s.Hostname, "unknown"},
		{"GITHUB_APP_ID", s.GitHubAppID, int64(0)},
		{"GITHUB_APP_PRIVATE_KEY", s.GitHubAppPrivateKey.IsSet(), false},
		{"GITHUB_WEBHOOK_SECRET", s.WebhookSecret.IsSet(), false},
		{"GITHUB_API_URL", s.GitHubAPIURL, "https://api.github.com"},
		{"DEFAULT_DISPATCH_REF", s.DefaultDispatchRef, "main"},
		{"ENFORCE_SOURCE_DEFAULT_BRANCH", s.EnforceSourceDefaultBranch, true},
		{"DISPATCH_MAX_TARGETS_PER_RUN", s.MaxTargetsPerRun, 25},
		{"DISPATCH_MAX_CHAIN_DEPTH", s.MaxChainDepth, 5},
		{"SOURCE_REPO_ALLOWLIST", s.SourceRepoAllowlist.Empty(), true},
		{"TARGET_REPO_ALLOWLIST", s.TargetRepoAllowlist.Empty(), true},
		{"SOURCE_WORKFLOW_ALLOWLIST", s.SourceWorkflowAllowlist.Empty(), true},
		{"ALLOWED_SOURCE_CONCLUSIONS", s.AllowedSourceConclusions.String(), "success"},
		{"DISPATCH_MAX_RETRIES", s.DispatchMaxRetries, 2},
		{"DISPATCH_RETRY_BASE_DELAY_MS", s.RetryBaseDelay, 200 * time.Millisecond},
		{"GITHUB_WRITES_PER_MINUTE", s.GitHubWritesPerMinute, 80},
		{"CONFIG_CACHE_TTL", s.ConfigCacheTTL, time.Duration(0)},
		{"CREATE_ISSUES", s.CreateIssues, true},
		{"REPLAY_WINDOW", s.ReplayWindow, 10 * time.Minute},
		{"WEBHOOK_RATE_LIMIT", s.WebhookRateLimit, 100},
		{"TRUSTED_PROXIES", len(s.TrustedProxies), 0},
		{"ADMIN_IP_ALLOWLIST", len(s.AdminIPAllowlist), 0},
		{"ADMIN_TOKEN", s.AdminToken.IsSet(), false},
		{"DISPATCHER_DB", s.DBPath, "./dispatcher.db"},
		{"QUEUE_VISIBILITY_TIMEOUT", s.QueueVisibilityTimeout, 30 * time.Second},
		{"QUEUE_MAX_RECEIVES", s.QueueMaxReceives, 5},
		{"DISPATCHER_STAGE", s.Stage, ""},
		{"DISPATCH_REQUESTS_QUEUE_URL", s.RequestsQueueURL, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s default = %v, want %v", c.name, c.got, c.want)
		}
	}
	if p := s.Policy(); p.MaxTargetsPerRun != 25 || p.MaxChainDepth != 5 || !p.EnforceSourceDefaultBranch || p.DefaultDispatchRef != "main" ||
		!p.AllowedSourceConclusions.Allows("SUCCESS") || p.AllowedSourceConclusions.Allows("failure") {
		t.Errorf("Policy() = %+v", p)
	}
	if p, d := s.Policy(), plan.DefaultPolicy(); p.MaxTargetsPerRun != d.MaxTargetsPerRun || p.MaxChainDepth != d.MaxChainDepth ||
		p.DefaultDispatchRef != d.DefaultDispatchRef || p.EnforceSourceDefaultBranch != d.EnforceSourceDefaultBranch ||
		p.AllowedSourceConclusions.String() != d.AllowedSourceConclusions.String() {
		t.Errorf("the default environment's policy %+v differs from plan.DefaultPolicy() %+v", p, d)
	}
}

func TestBooleans(t *testing.T) {
	tests := []struct {
		value string
		set   bool
		want  bool
		ok    bool
	}{
		{"", false, true, true}, // unset: the default
		{"", true, false, true}, // empty: false
		{"true", true, true, true},
		{"TRUE", true, true, true},
		{"True", true, true, true},
		{"1", true, true, true},
		{"yes", true, true, true},
		{"YES", true, true, true},
		{" yes ", true, true, true},
		{"false", true, false, true},
		{"False", true, false, true},
		{"0", true, false, true},
		{"no", true, false, true},
		{"No", true, false, true},
		{"on", true, false, false},
		{"off", true, false, false},
		{"2", true, false, false},
		{"t", true, false, false},
		{"enabled", true, false, false},
	}
	for _, name := range []string{"ENFORCE_SOURCE_DEFAULT_BRANCH", "CREATE_ISSUES"} {
		for _, tt := range tests {
			var kv []string
			if tt.set {
				kv = []string{name, tt.value}
			}
			s, err := Load(env(kv...))
			if !tt.ok {
				if err == nil {
					t.Errorf("%s=%q: no error", name, tt.value)
				} else if !strings.Contains(err.Error(), "true, false, 1, 0, yes or no") {
					t.Errorf("%s=%q: error %q does not say what is expected", name, tt.value, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s=%q (set=%v): %v", name, tt.value, tt.set, err)
				continue
			}
			got := s.EnforceSourceDefaultBranch
			if name == "CREATE_ISSUES" {
				got = s.CreateIssues
			}
			if got != tt.want {
				t.Errorf("%s=%q (set=%v) = %v, want %v", name, tt.value, tt.set, got, tt.want)
			}
		}
	}
}

func TestIntegers(t *testing.T) {
	tests := []struct {
		name, value string
		get         func(*Settings) int
		want        int
		wantErr     string
	}{
		{"PORT", "8080", func(s *Settings) int { return s.Port }, 8080, ""},
		{"PORT", " 8080 ", func(s *Settings) int { return s.Port }, 8080, ""},
		{"PORT", "", func(s *Settings) int { return s.Port }, 3000, ""},
		{"PORT", "0", nil, 0, "from 1 to 65535"},
		{"PORT", "65536", nil, 0, "from 1 to 65535"},
		{"PORT", "80a", nil, 0, "a whole number"},
		{"PORT", "1e3", nil, 0, "a whole number"},
		{"DISPATCH_MAX_TARGETS_PER_RUN", "1", func(s *Settings) int { return s.MaxTargetsPerRun }, 1, ""},
		{"DISPATCH_MAX_TARGETS_PER_RUN", "0", nil, 0, "from 1 to 1000"},
		{"DISPATCH_MAX_CHAIN_DEPTH", "10", func(s *Settings) int { return s.MaxChainDepth }, 10, ""},
		{"DISPATCH_MAX_CHAIN_DEPTH", "0", nil, 0, "from 1 to 100"},
		{"DISPATCH_MAX_RETRIES", "0", func(s *Settings) int { return s.DispatchMaxRetries }, 0, ""},
		{"DISPATCH_MAX_RETRIES", "-1", nil, 0, "from 0 to 20"},
		{"DISPATCH_RETRY_BASE_DELAY_MS", "1500", func(s *Settings) int { return int(s.RetryBaseDelay / time.Millisecond) }, 1500, ""},
		{"DISPATCH_RETRY_BASE_DELAY_MS", "60001", nil, 0, "from 0 to 60000"},
		{"WEBHOOK_RATE_LIMIT", "0", func(s *Settings) int { return s.WebhookRateLimit }, 0, ""},
		{"WEBHOOK_RATE_LIMIT", "100000", func(s *Settings) int { return s.WebhookRateLimit }, 100000, ""},
		{"WEBHOOK_RATE_LIMIT", "-5", nil, 0, "from 0 to 1000000"},
		{"GITHUB_WRITES_PER_MINUTE", "0", func(s *Settings) int { return s.GitHubWritesPerMinute }, 0, ""},
		{"GITHUB_WRITES_PER_MINUTE", "30", func(s *Settings) int { return s.GitHubWritesPerMinute }, 30, ""},
		{"GITHUB_WRITES_PER_MINUTE", "-1", nil, 0, "from 0 to 100000"},
		{"CONFIG_CACHE_TTL", "5m", func(s *Settings) int { return int(s.ConfigCacheTTL / time.Second) }, 300, ""},
		{"CONFIG_CACHE_TTL", "0", func(s *Settings) int { return int(s.ConfigCacheTTL) }, 0, ""},
		{"CONFIG_CACHE_TTL", "-1s", nil, 0, "from 0s to 24h"},
		{"CONFIG_CACHE_TTL", "25h", nil, 0, "from 0s to 24h"},
		{"QUEUE_MAX_RECEIVES", "3", func(s *Settings) int { return s.QueueMaxReceives }, 3, ""},
		{"QUEUE_MAX_RECEIVES", "0", nil, 0, "from 1 to 1000"},
		{"GITHUB_APP_ID", "12345", func(s *Settings) int { return int(s.GitHubAppID) }, 12345, ""},
		{"GITHUB_APP_ID", "Iv1.abc", nil, 0, "numeric id"},
		{"GITHUB_APP_ID", "-3", nil, 0, "numeric id"},
	}
	for _, tt := range tests {
		s, err := Load(env(tt.name, tt.value))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("%s=%q: error %v, want one naming the variable and %q", tt.name, tt.value, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s=%q: %v", tt.name, tt.value, err)
			continue
		}
		if got := tt.get(s); got != tt.want {
			t.Errorf("%s=%q = %d, want %d", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		name, value string
		want        time.Duration
		ok          bool
	}{
		{"REPLAY_WINDOW", "5m", 5 * time.Minute, true},
		{"REPLAY_WINDOW", "1h30m", 90 * time.Minute, true},
		{"REPLAY_WINDOW", "", 10 * time.Minute, true},
		{"REPLAY_WINDOW", "600", 0, false},
		{"REPLAY_WINDOW", "0s", 0, false},
		{"REPLAY_WINDOW", "-1m", 0, false},
		{"REPLAY_WINDOW", "200h", 0, false},
		{"QUEUE_VISIBILITY_TIMEOUT", "45s", 45 * time.Second, true},
		{"QUEUE_VISIBILITY_TIMEOUT", "13h", 0, false},
		{"QUEUE_VISIBILITY_TIMEOUT", "soon", 0, false},
	}
	for _, tt := range tests {
		s, err := Load(env(tt.name, tt.value))
		if !tt.ok {
			if err == nil || !strings.Contains(err.Error(), "a duration such as 30s, 10m or 1h") {
				t.Errorf("%s=%q: error %v", tt.name, tt.value, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s=%q: %v", tt.name, tt.value, err)
		}
		got := s.ReplayWindow
		if tt.name == "QUEUE_VISIBILITY_TIMEOUT" {
			got = s.QueueVisibilityTimeout
		}
		if got != tt.want {
			t.Errorf("%s=%q = %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestAllowlists(t *testing.T) {
	s := mustLoad(t,
		"SOURCE_REPO_ALLOWLIST", " My-Org/* , other/repo ",
		"TARGET_REPO_ALLOWLIST", "org/repo?",
		"SOURCE_WORKFLOW_ALLOWLIST", "ci*",
		"ALLOWED_SOURCE_CONCLUSIONS", "",
	)
	p := s.Policy()
	if !p.SourceRepoAllowlist.Allows("my-org/x") || !p.SourceRepoAllowlist.Allows("OTHER/repo") || p.SourceRepoAllowlist.Allows("x/y") {
		t.Errorf("SOURCE_REPO_ALLOWLIST = %v", p.SourceRepoAllowlist)
	}
	if p.TargetRepoAllowlist.Allows("org/rep") || !p.TargetRepoAllowlist.Allows("org/repo?") {
		t.Errorf("TARGET_REPO_ALLOWLIST: ? must be literal")
	}
	if !p.SourceWorkflowAllowlist.Allows("ci.yml") || p.SourceWorkflowAllowlist.Allows("cd.yml") {
		t.Errorf("SOURCE_WORKFLOW_ALLOWLIST = %v", p.SourceWorkflowAllowlist)
	}
	// Set but empty: an empty list, which allows every conclusion.
	if !p.AllowedSourceConclusions.Empty() || !p.AllowedSourceConclusions.Allows("") {
		t.Errorf("ALLOWED_SOURCE_CONCLUSIONS= gives %v", p.AllowedSourceConclusions)
	}
}

func TestIPLists(t *testing.T) {
	s := mustLoad(t,
		"ADMIN_IP_ALLOWLIST", " 203.0.113.7, 10.0.0.0/8 ,2001:db8::/32,,::ffff:192.0.2.1",
		"TRUSTED_PROXIES", "10.0.0.1/8",
	)
	for addr, want := range map[string]bool{
		"203.0.113.7": true, "203.0.113.8": false, "10.20.30.40": true, "2001:db8::1": true,
		"2001:db9::1": false, "192.0.2.1": true, "::ffff:10.1.1.1": true,
	} {
		if got := s.AdminIPAllowlist.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("ADMIN_IP_ALLOWLIST contains %s = %v, want %v", addr, got, want)
		}
	}
	if got := s.AdminIPAllowlist.String(); got != "203.0.113.7,10.0.0.0/8,2001:db8::/32,192.0.2.1" {
		t.Errorf("String() = %q", got)
	}
	if !s.TrustedProxies.Contains(netip.MustParseAddr("10.9.9.9")) {
		t.Error("TRUSTED_PROXIES 10.0.0.1/8 does not contain 10.9.9.9")
	}
	_, err := Load(env("ADMIN_IP_ALLOWLIST", "1.2.3.4, nope, 10.0.0.0/33, fe80::1%eth0"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"nope"`, `"10.0.0.0/33"`, `"fe80::1%eth0"`, "ADMIN_IP_ALLOWLIST"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %s", err, want)
		}
	}
	if strings.Contains(strings.SplitN(err.Error(), "not valid:", 2)[1], "1.2.3.4") {
		t.Errorf("error names a valid item: %q", err)
	}
}

func TestURLsAndEnums(t *testing.T) {
	tests := []struct {
		name, value, want, wantErr string
	}{
		{"GITHUB_API_URL", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3", ""},
		{"GITHUB_API_URL", "http://localhost:8080", "http://localhost:8080", ""},
		{"GITHUB_API_URL", "ghe.example.com", "", "absolute http:// or https:// URL"},
		{"GITHUB_API_URL", "ftp://x", "", "absolute http:// or https:// URL"},
		{"GITHUB_API_URL", "https://user:pw@x", "", "without user name or password"},
		{"GITHUB_API_URL", "https://x/api?x=1", "", "without a query"},
		{"DISPATCH_REQUESTS_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123/requests", "https://sqs.eu-west-1.amazonaws.com/123/requests", ""},
		{"DISPATCH_TARGETS_QUEUE_URL", "targets", "", "absolute"},
		{"LOG_LEVEL", "DEBUG", "debug", ""},
		{"LOG_LEVEL", "verbose", "", "one of fatal, error, warn, info, debug, trace, silent"},
		{"DISPATCHER_STAGE", "planner", "planner", ""},
		{"DISPATCHER_STAGE", "worker", "", "one of ingress, planner, dispatcher, facts, admin"},
	}
	for _, tt := range tests {
		s, err := Load(env(tt.name, tt.value))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s=%q: error %v, want %q", tt.name, tt.value, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s=%q: %v", tt.name, tt.value, err)
			continue
		}
		var got string
		for _, v := range s.Redacted() {
			if v.Name == tt.name {
				got = v.Value
			}
		}
		if got != tt.want {
			t.Errorf("%s=%q gives %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
	// The URL error shows no credentials.
	_, err := Load(env("GITHUB_API_URL", "https://user:hunter2@x"))
	if err == nil || !strings.Contains(err.Error(), "GITHUB_API_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error = %v", err)
	}
	// Nor a secret in the query or the fragment, nor in a value that does
	// not even parse as a URL.
	for _, bad := range []string{"https://host/api/v3?token=hunter2", "https://host/api?a=1&sig=hunter2#hunter2",
		"https://host/%zz?token=hunter2", "host/api?token=hunter2", "https://u:hunter2@host/%zz"} {
		_, err := Load(env("GITHUB_API_URL", bad))
		if err == nil || !strings.Contains(err.Error(), "GITHUB_API_URL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("GITHUB_API_URL=%q: error = %v", bad, err)
		}
	}
}

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.github.com", "https://api.github.com"},
		{"https://host/api/v3?token=s3cr3t", "https://host/api/v3?token=xxxxx"},
		{"https://host/p?a=1&b&c=2#frag", "https://host/p?a=xxxxx&b=xxxxx&c=xxxxx#xxxxx"},
		{"https://user:pw@host/p", "https://user:xxxxx@host/p"},
		{"https://user@host/p", "https://user@host/p"},
		{"https://user:p@w@host/a@b", "https://user:xxxxx@host/a@b"},
		{"not a url?key=v", "not a url?key=xxxxx"},
	} {
		if got := MaskURL(tc.in); got != tc.want {
			t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStrings(t *testing.T) {
	s := mustLoad(t, "DEFAULT_DISPATCH_REF", " release ", "DISPATCHER_DB", "", "APP_VERSION", "1.2.3",
		"DISPATCH_FACTS_EVENT_BUS_NAME", "bus", "DISPATCH_STATE_TABLE_NAME", "state")
	if s.DefaultDispatchRef != "release" || s.DBPath != "./dispatcher.db" || s.AppVersion != "1.2.3" ||
		s.FactsEventBusName != "bus" || s.StateTableName != "state" {
		t.Errorf("got %+v", s)
	}
	if !s.IsSet("DISPATCHER_DB") || s.IsSet("PORT") {
		t.Error("IsSet is wrong")
	}
}

func TestSecrets(t *testing.T) {
	const hook = "s3cr3t-hook-value"
	oneLine := strings.ReplaceAll(testPEM, "\n", `\n`)
	s := mustLoad(t, "GITHUB_WEBHOOK_SECRET", hook, "GITHUB_APP_PRIVATE_KEY", oneLine, "ADMIN_TOKEN", " tok ")
	if s.WebhookSecret.Value() != hook || s.GitHubAppPrivateKey.Value() != testPEM || s.AdminToken.Value() != " tok " {
		t.Errorf("secret values changed: %q %q %q", s.WebhookSecret.Value(), s.GitHubAppPrivateKey.Value(), s.AdminToken.Value())
	}
	// Printing, marshalling and logging never show a secret.
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("settings", "s", s.WebhookSecret, "all", s)
	js, _ := json.Marshal(s)
	red, _ := json.Marshal(s.Redacted())
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), string(js), string(red), logged.String()} {
		if strings.Contains(out, hook) || strings.Contains(out, "MIIBOgIBAAJBAK") || strings.Contains(out, "tok ") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if got := s.WebhookSecret.String(); got != fmt.Sprintf("(set, %d bytes)", len(hook)) {
		t.Errorf("String() = %q", got)
	}
	if got := (Secret{}).String(); got != "(unset)" {
		t.Errorf("unset String() = %q", got)
	}
	for _, v := range s.Redacted() {
		if v.Name == "GITHUB_WEBHOOK_SECRET" && (!v.Secret || !v.Set || v.Value != s.WebhookSecret.String()) {
			t.Errorf("Redacted entry = %+v", v)
		}
		if v.Name == "ADMIN_TOKEN" && v.Value != "(set, 5 bytes)" {
			t.Errorf("ADMIN_TOKEN shown as %q", v.Value)
		}
	}

	// A bad private key is reported without its value.
	const badKey = "not-a-key-but-a-secret"
	_, err := Load(env("GITHUB_APP_PRIVATE_KEY", badKey))
	if err == nil || strings.Contains(err.Error(), badKey) || !strings.Contains(err.Error(), "(set, 22 bytes)") || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("error = %v", err)
	}
	// An empty secret counts as unset.
	s = mustLoad(t, "GITHUB_WEBHOOK_SECRET", "")
	if s.WebhookSecret.IsSet() {
		t.Error("empty secret is set")
	}
}

func TestCombinedError(t *testing.T) {
	_, err := Load(env(
		"PORT", "http",
		"ENFORCE_SOURCE_DEFAULT_BRANCH", "nope",
		"REPLAY_WINDOW", "10",
		"ADMIN_IP_ALLOWLIST", "x",
		"GITHUB_APP_PRIVATE_KEY", "hunter2",
		"GITHUB_APP_PRIVATE_KEY_FILE", "/k.pem",
		"LOG_LEVEL", "loud",
	))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want *Error", err, err)
	}
	var names []string
	for _, p := range e.Problems {
		names = append(names, p.Name)
	}
	want := []string{"PORT", "LOG_LEVEL", "GITHUB_APP_PRIVATE_KEY", "ENFORCE_SOURCE_DEFAULT_BRANCH", "REPLAY_WINDOW", "ADMIN_IP_ALLOWLIST"}
	for _, n := range want {
		if !slices.Contains(names, n) {
			t.Errorf("problems %q lack %s", names, n)
		}
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, fmt.Sprintf("%d invalid environment variables:", len(e.Problems))) {
		t.Errorf("message starts %q", msg)
	}
	for _, s := range []string{`PORT="http": expected a whole number from 1 to 65535`, `ENFORCE_SOURCE_DEFAULT_BRANCH="nope": expected a boolean`,
		`LOG_LEVEL="loud"`, `REPLAY_WINDOW="10"`, "GITHUB_APP_PRIVATE_KEY (set, 7 bytes): expected a PEM private key"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("secret in the message:\n%s", msg)
	}
	if strings.Count(msg, "\n") != len(e.Problems) {
		t.Errorf("want one line per problem:\n%s", msg)
	}

	// Key and key file together.
	_, err = Load(env("GITHUB_APP_PRIVATE_KEY", testPEM, "GITHUB_APP_PRIVATE_KEY_FILE", "/k.pem"))
	if err == nil || !strings.Contains(err.Error(), "only one of GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_FILE") ||
		!strings.HasPrefix(err.Error(), "invalid environment variable: ") {
		t.Errorf("error = %v", err)
	}
}

func TestMissingFor(t *testing.T) {
	empty := mustLoad(t)
	tests := []struct {
		mode string
		s    *Settings
		want []string
	}{
		{ModeServe, empty, []string{"GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)"}},
		{ModeServe, mustLoad(t, "GITHUB_WEBHOOK_SECRET", "x", "GITHUB_APP_ID", "1", "GITHUB_APP_PRIVATE_KEY_FILE", "/k.pem"), nil},
		{ModeServe, mustLoad(t, "GITHUB_WEBHOOK_SECRET_ARN", "arn:x", "GITHUB_APP_ID", "1", "GITHUB_APP_PRIVATE_KEY", testPEM), []string{"GITHUB_WEBHOOK_SECRET"}},
		{ModePlan, mustLoad(t, "GITHUB_APP_ID", "1"), []string{"GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)"}},
		{ModeIngress, empty, []string{"GITHUB_WEBHOOK_SECRET (or GITHUB_WEBHOOK_SECRET_ARN)", "DISPATCH_REQUESTS_QUEUE_URL", "DISPATCH_FACTS_EVENT_BUS_NAME", "DISPATCH_STATE_TABLE_NAME"}},
		{ModeIngress, mustLoad(t, "GITHUB_WEBHOOK_SECRET_ARN", "arn:x", "DISPATCH_REQUESTS_QUEUE_URL", "https://q/1", "DISPATCH_FACTS_EVENT_BUS_NAME", "b", "DISPATCH_STATE_TABLE_NAME", "t"), nil},
		{ModePlanner, mustLoad(t, "GITHUB_APP_ID", "1", "GITHUB_APP_PRIVATE_KEY_ARN", "arn:k"), []string{"DISPATCH_TARGETS_QUEUE_URL", "DISPATCH_FACTS_EVENT_BUS_NAME"}},
		{ModeDispatcher, empty, []string{"GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE or GITHUB_APP_PRIVATE_KEY_ARN)", "DISPATCH_FACTS_EVENT_BUS_NAME", "DISPATCH_STATE_TABLE_NAME"}},
		{ModeFacts, mustLoad(t, "DISPATCH_EVENTS_TABLE_NAME", "e"), []string{"DISPATCH_PROJECTIONS_TABLE_NAME"}},
		{ModeAdmin, empty, []string{"DISPATCH_EVENTS_TABLE_NAME", "DISPATCH_PROJECTIONS_TABLE_NAME"}},
		{"simulate", empty, nil},
		{"validate", empty, nil},
	}
	for _, tt := range tests {
		if got := tt.s.MissingFor(tt.mode); !slices.Equal(got, tt.want) {
			t.Errorf("MissingFor(%s) = %q, want %q", tt.mode, got, tt.want)
		}
	}
	err := empty.MissingError(ModeServe)
	if err == nil || err.Error() != "serve needs these environment variables, which are not set: GITHUB_WEBHOOK_SECRET, GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)" {
		t.Errorf("MissingError = %v", err)
	}
	if err := empty.MissingError("simulate"); err != nil {
		t.Errorf("MissingError(simulate) = %v", err)
	}
}

func TestRedactedListsEveryVariable(t *testing.T) {
	s := mustLoad(t, "PORT", "9000")
	red := s.Redacted()
	if len(red) != len(Variables()) {
		t.Fatalf("%d redacted entries for %d variables", len(red), len(Variables()))
	}
	for i, v := range red {
		if v.Name != Variables()[i].Name {
			t.Errorf("entry %d is %s, want %s", i, v.Name, Variables()[i].Name)
		}
		if v.Name == "PORT" && (v.Value != "9000" || !v.Set) {
			t.Errorf("PORT entry = %+v", v)
		}
		if v.Name == "REPLAY_WINDOW" && (v.Value != "10m" || v.Set) {
			t.Errorf("REPLAY_WINDOW entry = %+v", v)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{"trace": slog.LevelDebug - 4, "debug": slog.LevelDebug, "info": slog.LevelInfo,
		"warn": slog.LevelWarn, "error": slog.LevelError, "fatal": slog.LevelError + 4} {
		if got := mustLoad(t, "LOG_LEVEL", level).SlogLevel(); got != want {
			t.Errorf("LOG_LEVEL=%s gives %v, want %v", level, got, want)
		}
	}
	if mustLoad(t, "LOG_LEVEL", "silent").SlogLevel() <= slog.LevelError+4 {
		t.Error("silent does not silence fatal")
	}
}

func TestLoadNilGetenv(t *testing.T) {
	s, err := Load(nil)
	if err != nil || s.Port != 3000 {
		t.Errorf("Load(nil) = %+v, %v", s, err)
	}
}

// Every variable is documented in the package doc and in
// docs/configuration.md, whose table is Markdown() exactly.
func TestDocumentation(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables() {
		if !strings.Contains(string(doc), v.Name+" ") {
			t.Errorf("doc.go does not list %s", v.Name)
		}
		if v.Help == "" || v.Kind == "" || v.Modes == "" {
			t.Errorf("%s is not fully documented: %+v", v.Name, v)
		}
	}
	if !strings.Contains(string(conf), Markdown()) {
		t.Errorf("docs/configuration.md does not hold the current table; paste this between the markers:\n%s", Markdown())
	}
}

// ParseIPList (ADMIN_IP_ALLOWLIST, TRUSTED_PROXIES): addresses become /32
// or /128 prefixes, IPv4-mapped prefixes become IPv4, empty items are
// skipped, and the error names every bad item.
func TestParseIPListForms(t *testing.T) {
	got, err := ParseIPList(" 10.0.0.0/8 ,, 192.0.2.1, 2001:db8::/32, ::ffff:10.0.0.0/104 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if fmt.Sprint([]netip.Prefix(got)) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ParseIPList("10.0.0.0/8, nope, 1.2.3.4/99"); err == nil || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "1.2.3.4/99") {
		t.Errorf("err = %v, want one naming both bad items", err)
	}
	if got, err := ParseIPList(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

// TestDocumentationNotRead: the variables docs/configuration.md says are
// not read are really not read (a variable added to the code must leave
// that list), and every variable-like name the docs show in backticks is
// either read or listed there, so the pages cannot disagree with the code.
func TestDocumentationNotRead(t *testing.T) {
	conf, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, v := range Variables() {
		known[v.Name] = true
	}
	_, line, ok := strings.Cut(string(conf), "- Not read:")
	if !ok {
		t.Fatal(`docs/configuration.md has no "- Not read:" line`)
	}
	line, _, _ = strings.Cut(line, "\n- ")
	varRE := regexp.MustCompile("`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")
	notRead := map[string]bool{}
	for _, m := range varRE.FindAllStringSubmatch(line, -1) {
		notRead[m[1]] = true
		if known[m[1]] {
			t.Errorf("docs/configuration.md says %s is not read, but pkg/settings reads it", m[1])
		}
	}
	// Names in backticks that are not dispatcher's configuration.
	other := map[string]bool{"NO_COLOR": true, "AWS_ENDPOINT_URL": true, "AWS_LAMBDA_RUNTIME_API": true}
	pages, _ := filepath.Glob("../../docs/*.md")
	for _, page := range append(pages, "../../README.md") {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range varRE.FindAllStringSubmatch(string(data), -1) {
			name := m[1]
			if !known[name] && !notRead[name] && !other[name] && !strings.HasPrefix(name, "AWS_") {
				t.Errorf("%s names %s, which pkg/settings does not read and docs/configuration.md does not list as not read", filepath.Base(page), name)
			}
		}
	}
}
