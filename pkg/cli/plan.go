package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// planMaxWait is the longest single wait plan sleeps for a rate limit or a
// Retry-After before giving up: someone is waiting at a terminal.
const planMaxWait = 15 * time.Second

type planOptions struct {
	repo    string
	run     string
	format  string
	timeout time.Duration
}

// defaultPlanTimeout bounds a whole plan: GitHub's answers take seconds;
// a hanging API (three 30 s attempts) must not hold a terminal for long.
const defaultPlanTimeout = 60 * time.Second

// errPlanTimeout is the cause of a plan stopped by --timeout.
var errPlanTimeout = errors.New("plan timed out")

func newPlanCmd(s Streams) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan --run URL | plan --repo OWNER/NAME --run ID",
		Short: "Explain, against live GitHub, what a workflow run would dispatch (read-only)",
		Long: `Dry run against live GitHub: fetch a completed workflow run and its
repository, read dispatching.yml of the source and of every candidate target
through the GitHub App, evaluate them with the guardrails of this environment
(ENFORCE_SOURCE_DEFAULT_BRANCH, TARGET_REPO_ALLOWLIST, ...) and print every
candidate with its decision and reason. Nothing is ever dispatched: plan only
sends GET requests (and mints read tokens for the App's installations).

--run takes the run's web address as copied from the browser
(https://github.com/OWNER/NAME/actions/runs/ID, also .../attempts/N or
.../job/ID, on any host, so GitHub Enterprise Server too), which names the
repository; or the run id alone, with --repo. When both name a repository
they must agree.

It needs GITHUB_APP_ID and the App's private key (GITHUB_APP_PRIVATE_KEY, or
GITHUB_APP_PRIVATE_KEY_FILE naming a PEM file); GITHUB_API_URL points it at
GitHub Enterprise Server (e.g. https://ghe.example.com/api/v3).

Chains: plan cannot know whether the run was itself started by dispatcher,
so it plans the run as the start of a chain and never reports dispatch_cycle
or chain_depth_exceeded. The lineage of dispatched runs lives in the store of
the running service (serve's DISPATCHER_DB), which plan does not read; the
service may therefore deny a target of a chained run that plan shows as
dispatch.

On a terminal a spinner on stderr shows what plan waits for (never with
--format json). --timeout (default 60s) bounds the whole plan.

Exit status: 0 when a plan was printed, whatever its decisions (an
ineligible run or denied targets are answers, not failures); 2 for missing
credentials, a bad private key, an unknown run or repository, or a
repository where the App is not installed; 1 when GitHub kept failing after
retries (its message is shown) or did not answer within --timeout; 130
when interrupted with Ctrl-C. docs/plan.md has the details and the API
cost.`,
		Example: `  # why did this run of acme/api dispatch (or not)? Its address, from the browser:
  GITHUB_APP_ID=12345 GITHUB_APP_PRIVATE_KEY_FILE=app.pem dispatcher plan --run https://github.com/acme/api/actions/runs/123

  # the same with the run id (the number in .../actions/runs/ID) and the repository
  dispatcher plan --repo acme/api --run 123

  # the same plan as JSON (schemas/plan.schema.json), e.g. for jq
  dispatcher plan --repo acme/api --run 123 --format json | jq '.targets[] | select(.decision == "deny")'

  # with the guardrails production uses
  TARGET_REPO_ALLOWLIST='acme/*' dispatcher plan --repo acme/api --run 123

  # GitHub Enterprise Server
  GITHUB_API_URL=https://ghe.example.com/api/v3 dispatcher plan --run https://ghe.example.com/acme/api/actions/runs/123`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "source repository `OWNER/NAME` (required with a run id; taken from the address otherwise)")
	f.StringVar(&o.run, "run", "", "workflow run `URL|ID`: its address https://HOST/OWNER/NAME/actions/runs/ID, or the run id alone (required)")
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	f.DurationVar(&o.timeout, "timeout", defaultPlanTimeout, "give up after `DURATION` (e.g. 30s, 2m; 0 waits as long as GitHub takes)")
	_ = cmd.MarkFlagRequired("run")
	return cmd
}

func runPlan(ctx context.Context, s Streams, o *planOptions) error {
	if o.format != "text" && o.format != "json" {
		return usageErrorf("--format: unknown format %q (expected text or json)", o.format)
	}
	if o.timeout < 0 {
		return usageErrorf("--timeout %s: expected a positive duration, or 0 for no limit", o.timeout)
	}
	if o.repo != "" {
		owner, name, ok := strings.Cut(o.repo, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			return usageErrorf("--repo %q: expected OWNER/NAME", o.repo)
		}
	}
	var runID int64
	webHost := ""
	if run := strings.TrimSpace(o.run); planIsRunURL(run) {
		repo, id, host, err := planParseRunURL(run)
		webHost = host
		if err != nil {
			return usageErrorf("--run %q: %v", settings.MaskURL(o.run), err)
		}
		switch {
		case o.repo == "":
			o.repo = repo
		case !strings.EqualFold(o.repo, repo):
			return usageErrorf("--repo %s does not match the repository of --run, %s: drop --repo or give the run's own repository", o.repo, repo)
		}
		runID = id
	} else {
		id, err := strconv.ParseInt(run, 10, 64)
		if err != nil || id <= 0 {
			return usageErrorf("--run %q: expected a positive run id (the number in .../actions/runs/ID) or the run's address (https://HOST/OWNER/NAME/actions/runs/ID)", o.run)
		}
		if o.repo == "" {
			return usageErrorf("plan: missing --repo OWNER/NAME: a run id needs its repository, or give --run the run's address (see dispatcher plan --help)")
		}
		runID = id
	}
	cfg, err := settings.Load(s.Getenv)
	if err != nil {
		return &UsageError{Err: err}
	}
	if err := cfg.MissingError(settings.ModePlan); err != nil {
		return &UsageError{Err: err}
	}
	if note := planHostNote(webHost, cfg.GitHubAPIURL); note != "" {
		fmt.Fprintln(s.Err, "dispatcher: note: "+note)
	}
	gh, err := planClient(cfg)
	if err != nil {
		return err
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, errPlanTimeout)
		defer cancel()
	}
	// A spinner on a terminal while GitHub answers; never in JSON output.
	progress := o.format == "text"
	sp := startProgress(s, progress, fmt.Sprintf("asking GitHub for run %d of %s…", runID, o.repo))
	ev, err := gh.Run(ctx, o.repo, runID)
	sp.Stop()
	if err != nil {
		if terr := planTimeoutError(ctx, o.timeout); terr != nil {
			return terr
		}
		return planGitHubError(err, o.repo, runID)
	}
	if ev.Action != "completed" {
		fmt.Fprintf(s.Err, "dispatcher: note: run %d has not completed yet; the service plans a run only when it completes, so its conclusion may still change\n", runID)
	}
	sp = startProgress(s, progress, "reading dispatching.yml of the source and its targets…")
	configs := gh.Configs(ev.InstallationID)
	p := plan.Build(ctx, plan.Input{
		Event:   ev,
		Source:  configs.Lookup(ctx, ev.Repository.FullName()),
		Targets: configs,
		Policy:  cfg.Policy(),
	})
	sp.Stop()
	if err := ctx.Err(); err != nil {
		if terr := planTimeoutError(ctx, o.timeout); terr != nil {
			return terr
		}
		return err
	}
	if o.format == "json" {
		return writeJSON(s.Out, p)
	}
	st := newPlanStyles(s.Out, s.Color(s.OutTTY))
	st.width = s.TermWidth()
	renderPlanText(s.Out, p, st)
	return nil
}

// planTimeoutError is the error of a plan that --timeout stopped, or nil.
func planTimeoutError(ctx context.Context, timeout time.Duration) error {
	if !errors.Is(context.Cause(ctx), errPlanTimeout) {
		return nil
	}
	return fmt.Errorf("plan: GitHub did not answer within --timeout %s; check GITHUB_API_URL and GitHub's status, or allow longer with --timeout", timeout)
}

// planIsRunURL reports whether --run is a web address rather than a run id:
// it has a scheme, or a path.
func planIsRunURL(run string) bool {
	return strings.Contains(run, "://") || strings.Contains(run, "/")
}

// planParseRunURL reads OWNER/NAME and the run id from a run's web address,
// https://HOST/OWNER/NAME/actions/runs/ID, on any host (github.com or a
// GitHub Enterprise Server). Whatever follows the id (/attempts/N, /job/ID,
// a query or a fragment) is ignored: plan explains the run as it is now. An
// address without a scheme (github.com/acme/api/actions/runs/1) is taken as
// https.
func planParseRunURL(run string) (repo string, id int64, host string, err error) {
	const want = "expected a run's address, https://HOST/OWNER/NAME/actions/runs/ID, or a run id"
	raw := run
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, perr := url.Parse(raw)
	if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", 0, "", errors.New(want)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 2; i+2 < len(parts); i++ {
		if parts[i] != "actions" || parts[i+1] != "runs" {
			continue
		}
		owner, name := parts[i-2], parts[i-1]
		n, perr := strconv.ParseInt(parts[i+2], 10, 64)
		if owner == "" || name == "" || perr != nil || n <= 0 {
			break
		}
		return owner + "/" + name, n, strings.ToLower(u.Hostname()), nil
	}
	return "", 0, "", errors.New(want)
}

// planHostNote warns when the run's address is on another host than the
// API plan talks to (GITHUB_API_URL, by default https://api.github.com): the
// API of a web host H is H itself (GitHub Enterprise Server, /api/v3) or
// api.H (github.com, GHE.com). It is only a note: a proxy may stand between.
func planHostNote(webHost, apiURL string) string {
	if webHost == "" {
		return ""
	}
	api := "api.github.com"
	if apiURL != "" {
		u, err := url.Parse(apiURL)
		if err != nil {
			return ""
		}
		api = strings.ToLower(u.Hostname())
	}
	web := strings.TrimPrefix(webHost, "www.")
	if api == web || api == "api."+web {
		return ""
	}
	shown := apiURL
	if shown == "" {
		shown = "https://api.github.com (the default)"
	}
	want := "https://" + web + "/api/v3" // GitHub Enterprise Server
	if web == "github.com" || strings.HasSuffix(web, ".ghe.com") {
		want = "https://api." + web
	}
	return fmt.Sprintf("the run's address is on %s but GITHUB_API_URL is %s; its API is GITHUB_API_URL=%s", webHost, shown, want)
}

// planClient builds the read-only GitHub App client from the settings. A
// key that cannot be read or parsed is a usage error; the key itself never
// appears in an error.
func planClient(cfg *settings.Settings) (*ghapp.Client, error) {
	key, err := app.PrivateKey(cfg)
	if err != nil {
		return nil, err
	}
	opts := []ghapp.Option{
		ghapp.WithMaxRetries(cfg.DispatchMaxRetries),
		ghapp.WithBaseDelay(cfg.RetryBaseDelay),
		ghapp.WithMaxWait(planMaxWait),
		ghapp.WithUserAgent("dispatcher-plan"),
		// Nothing is cached between runs of the command: no negative cache
		// that could hide a file created a moment ago.
		ghapp.WithNegativeCacheTTL(0),
	}
	if cfg.GitHubAPIURL != "" {
		opts = append(opts, ghapp.WithBaseURL(cfg.GitHubAPIURL+"/"))
	}
	gh, err := ghapp.New(cfg.GitHubAppID, key, opts...)
	if err != nil {
		if errors.Is(err, ghapp.ErrBadPrivateKey) {
			return nil, &UsageError{Err: fmt.Errorf("%s: %w", planKeySource(cfg), ghapp.ErrBadPrivateKey)}
		}
		return nil, &UsageError{Err: err}
	}
	return gh, nil
}

// planKeySource names the variable the private key came from.
func planKeySource(cfg *settings.Settings) string {
	if cfg.GitHubAppPrivateKey.IsSet() {
		return "GITHUB_APP_PRIVATE_KEY"
	}
	return "GITHUB_APP_PRIVATE_KEY_FILE " + cfg.GitHubAppPrivateKeyFile
}

// planGitHubError classifies a failure to fetch the run: what the operator
// must fix (unknown run, App not installed, refused credentials) is a usage
// error; anything else (GitHub kept failing) is exit 1 with GitHub's message.
func planGitHubError(err error, repo string, runID int64) error {
	var ge *ghapp.Error
	switch {
	case errors.Is(err, ghapp.ErrNoInstallation):
		// Checked before ErrNotFound: GitHub's 404 for the installation
		// matches both.
		return usageErrorf("%s: %w (or the repository does not exist): install the App on %s or check --repo", repo, ghapp.ErrNoInstallation, repo)
	case errors.Is(err, ghapp.ErrNotFound):
		return usageErrorf("run %d of %s: %w: check --repo and --run (the id is the number in .../actions/runs/ID)", runID, repo, ghapp.ErrNotFound)
	case errors.Is(err, ghapp.ErrBadPrivateKey):
		return usageErrorf("%w: check GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE", ghapp.ErrBadPrivateKey)
	case errors.As(err, &ge) && ge.Status == 401:
		return usageErrorf("GitHub refused the App's credentials (check GITHUB_APP_ID and that the private key belongs to that App): %w", err)
	}
	return fmt.Errorf("run %d of %s: %w", runID, repo, err)
}
