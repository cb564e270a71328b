package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
)

// config is what the flags say.
type config struct {
	service       string
	deliveries    int
	concurrency   int
	rate          float64
	targets       int
	latency       time.Duration
	payloadSize   int
	format        string
	db            string
	timeout       time.Duration
	env           []string
	settleTimeout time.Duration
	cpuProfile    string
	childLog      string
	storm         float64
	stormFor      time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var env stringList
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.service, "service", "serve", "what to measure: serve (dispatcher serve) or null (the null service: the ceiling)")
	fs.IntVar(&c.deliveries, "deliveries", 2000, "deliveries to send")
	fs.IntVar(&c.concurrency, "concurrency", 16, "concurrent senders (closed loop; with --rate, the most in flight)")
	fs.Float64Var(&c.rate, "rate", 0, "deliveries per second, paced (open loop); 0 = closed loop")
	fs.IntVar(&c.targets, "targets", 1, "targets per delivery: 1 (one repository) or 5 (in 4 repositories)")
	fs.DurationVar(&c.latency, "github-latency", 0, "latency the fake GitHub adds to every request")
	fs.IntVar(&c.payloadSize, "payload-size", 18<<10, "webhook body size in bytes (padded like a real payload)")
	fs.StringVar(&c.format, "format", "text", "output: text or json")
	fs.StringVar(&c.db, "db", "", "store file for serve (default: a fresh file in a temporary folder)")
	fs.DurationVar(&c.settleTimeout, "settle-timeout", 5*time.Minute, "how long to wait for the expected dispatches after the last delivery")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write CPU profiles of loadgen itself (`FILE`) and of the measured process (FILE.child)")
	fs.Float64Var(&c.storm, "storm", 0, "fault storm: this `FRACTION` of GitHub requests fail (500, 502, 429, secondary-limit 403, connection reset; before any effect) while the deliveries are sent; then the storm ends, `replay-dlq --yes` drains the dead letters and loadgen waits for the rest")
	fs.DurationVar(&c.stormFor, "storm-for", 10*time.Second, "how long the storm lasts from the first delivery (at least until the last is sent)")
	fs.StringVar(&c.childLog, "child-log", "", "write the measured process's log (stdout and stderr) to `FILE` (default: discarded)")
	fs.Var(&env, "env", "`NAME=VALUE` added to the child's environment (repeatable), e.g. --env GITHUB_WRITES_PER_MINUTE=0")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.env = env
	switch {
	case c.service != "serve" && c.service != "null":
		return c, fmt.Errorf("--service %q: expected serve or null", c.service)
	case c.deliveries < 1:
		return c, fmt.Errorf("--deliveries %d: expected at least 1", c.deliveries)
	case c.concurrency < 1:
		return c, fmt.Errorf("--concurrency %d: expected at least 1", c.concurrency)
	case c.targets != 1 && c.targets != 5:
		return c, fmt.Errorf("--targets %d: expected 1 or 5", c.targets)
	case c.service == "null" && c.targets != 1:
		return c, errors.New("--service null makes one dispatch per delivery: use --targets 1")
	case c.format != "text" && c.format != "json":
		return c, fmt.Errorf("--format %q: expected text or json", c.format)
	case c.rate < 0:
		return c, fmt.Errorf("--rate %v: expected a positive number or 0", c.rate)
	case c.storm < 0 || c.storm > 1:
		return c, fmt.Errorf("--storm %v: expected a fraction from 0 to 1", c.storm)
	case c.storm > 0 && c.service != "serve":
		return c, errors.New("--storm measures serve's recovery: use --service serve")
	}
	for _, e := range c.env {
		if !strings.Contains(e, "=") {
			return c, fmt.Errorf("--env %q: expected NAME=VALUE", e)
		}
	}
	return c, nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const (
	secret       = "loadgen-webhook-secret"
	installation = 4242
)

// run measures once and prints the report; the exit code is 1 when a
// dispatch was lost or duplicated.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return 1, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return 1, err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
		c.env = append(c.env, "LOADGEN_CHILD_CPUPROFILE="+c.cpuProfile+".child")
	}
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	if c.db == "" {
		c.db = filepath.Join(dir, "dispatcher.db")
	}

	gh := newGitHub(c)
	defer gh.close()

	child, err := startChild(ctx, c, gh, dir)
	if err != nil {
		return 1, err
	}
	defer child.stop()

	r, err := drive(ctx, c, child.url, gh, child)
	if err != nil {
		return 1, err
	}
	r.PeakRSSMB = child.peakRSS()
	r.Service, r.Targets, r.GitHubLatencyMS, r.Concurrency, r.Rate = c.service, c.targets, c.latency.Milliseconds(), c.concurrency, c.rate
	if err := r.print(stdout, c.format); err != nil {
		return 1, err
	}
	if r.Lost > 0 || r.Duplicates > 0 {
		return 1, nil
	}
	return 0, nil
}

// github is the fake GitHub behind a timing proxy.
type github struct {
	fake  *ghfake.Server
	proxy *http.Server
	url   string
	// targets are the expected dispatches of one delivery.
	targets []string
	mu      sync.Mutex
	lastAt  map[string]time.Time // sha -> time of the latest dispatch seen
	count   map[string]int       // sha + target -> dispatches
	kinds   map[string]int       // request kind -> count
	limited int64                // answers 403/429
	notMod  int64                // answers 304
}

func newGitHub(c config) *github {
	fake := ghfake.New(ghfake.WithoutOpenAPICheck(), ghfake.WithRateLimit(1<<30), ghfake.WithMutationWindow(0))
	g := &github{fake: fake, lastAt: map[string]time.Time{}, count: map[string]int{}, kinds: map[string]int{}}
	wf := ".github/workflows/"
	dispatchable := "on:\n  workflow_dispatch:\n    inputs:\n      sha: {required: true}\n"
	var outbound strings.Builder
	outbound.WriteString("outbound:\n  - source: {workflow: ci.yml}\n    targets:\n")
	repos := []string{"acme/api"}
	add := func(repo, workflow string) {
		fmt.Fprintf(&outbound, "      - {repository: %s, workflow: %s, inputs: {sha: \"{{ source.sha }}\"}}\n", repo, workflow)
		g.targets = append(g.targets, repo+" "+workflow)
		if !slices.Contains(repos, repo) {
			repos = append(repos, repo)
		}
	}
	add("acme/deploy", "cd.yml")
	if c.targets == 5 {
		add("acme/deploy", "smoke.yml")
		add("acme/web", "cd.yml")
		add("acme/docs", "publish.yml")
		add("acme/infra", "plan.yml")
	}
	fake.AddRepo(ghfake.Repo{FullName: "acme/api", Files: map[string]string{"dispatching.yml": outbound.String(), wf + "ci.yml": "on: push\n"}})
	for _, repo := range repos[1:] {
		files := map[string]string{}
		var in strings.Builder
		in.WriteString("inbound:\n  - source: {repository: acme/api, workflow: ci.yml}\n    targets:\n")
		for _, t := range g.targets {
			r, w, _ := strings.Cut(t, " ")
			if r == repo {
				fmt.Fprintf(&in, "      - {workflow: %s, accept_inputs: [sha]}\n", w)
				files[wf+w] = dispatchable
			}
		}
		files["dispatching.yml"] = in.String()
		fake.AddRepo(ghfake.Repo{FullName: repo, Files: files})
	}
	fake.AddInstallation(installation, repos...)

	up, _ := url.Parse(strings.TrimSuffix(fake.URL(), "/"))
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.ModifyResponse = func(res *http.Response) error {
		g.observe(res)
		return nil
	}
	rp.ErrorLog = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	g.url = "http://" + ln.Addr().String()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.latency > 0 {
			t := time.NewTimer(c.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/dispatches") {
			// Keep the body for observe: the sha input names the delivery.
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, b))
		}
		rp.ServeHTTP(w, r)
	})
	g.proxy = &http.Server{Handler: handler}
	go g.proxy.Serve(ln)
	return g
}

type bodyKey struct{}

// kind names a request for the counters.
func kind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/access_tokens"):
		return "token"
	case strings.HasSuffix(p, "/installation"):
		return "installation"
	case strings.Contains(p, "/contents/"):
		return "contents"
	case strings.HasSuffix(p, "/dispatches"):
		return "dispatch"
	case strings.Contains(p, "/runs"):
		return "runs"
	case strings.HasSuffix(p, "/issues"):
		return "issue"
	}
	return "other"
}

func (g *github) observe(res *http.Response) {
	now := time.Now()
	r := res.Request
	k := kind(r)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.kinds[k]++
	switch res.StatusCode {
	case http.StatusNotModified:
		g.notMod++
	case http.StatusForbidden, http.StatusTooManyRequests:
		g.limited++
	}
	if k != "dispatch" || res.StatusCode/100 != 2 {
		return
	}
	b, _ := r.Context().Value(bodyKey{}).([]byte)
	var d struct {
		Inputs map[string]string `json:"inputs"`
	}
	json.Unmarshal(b, &d)
	sha := d.Inputs["sha"]
	parts := strings.Split(r.URL.Path, "/") // /repos/OWNER/NAME/actions/workflows/W/dispatches
	target := ""
	if len(parts) >= 8 {
		target = parts[2] + "/" + parts[3] + " " + parts[6]
	}
	g.count[sha+"|"+target]++
	if now.After(g.lastAt[sha]) {
		g.lastAt[sha] = now
	}
}

func (g *github) close() {
	g.proxy.Close()
	g.fake.Close()
}

// child is the measured process.
type child struct {
	cmd     *exec.Cmd
	url     string
	exited  chan struct{} // closed when the process ended
	waitErr error         // its exit status, once exited is closed
	hwm     atomic.Int64  // peak RSS in KiB, sampled
}

func startChild(ctx context.Context, c config, gh *github, dir string) (*child, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyFile, gh.fake.PrivateKeyPEM(), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, childArg, c.service, addr)
	cmd.Env = append(os.Environ(),
		"GITHUB_WEBHOOK_SECRET="+secret,
		"GITHUB_APP_ID="+strconv.FormatInt(gh.fake.AppID(), 10),
		"GITHUB_APP_PRIVATE_KEY_FILE="+keyFile,
		"GITHUB_API_URL="+gh.url,
		"DISPATCHER_DB="+c.db,
		"LOADGEN_NULL_TARGET=acme/deploy", "LOADGEN_NULL_WORKFLOW=cd.yml",
		"LOADGEN_NULL_INSTALLATION="+strconv.Itoa(installation),
	)
	cmd.Env = append(cmd.Env, c.env...)
	logPath := filepath.Join(dir, "child.log")
	if c.childLog != "" {
		logPath = c.childLog
	}
	logs, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, url: "http://" + addr, exited: make(chan struct{})}
	go func() { ch.waitErr = cmd.Wait(); logs.Close(); close(ch.exited) }()
	go ch.sampleRSS()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(ch.url + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return ch, nil
			}
		}
		select {
		case <-ch.exited:
			tail, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("the %s process exited (%v) before it was ready:\n%s", c.service, ch.waitErr, tail)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			ch.stop()
			return nil, fmt.Errorf("the %s process did not answer /health within 30s", c.service)
		}
	}
}

// sampleRSS keeps the child's peak resident set (VmHWM) while it runs.
func (ch *child) sampleRSS() {
	path := "/proc/" + strconv.Itoa(ch.cmd.Process.Pid) + "/status"
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if kb > ch.hwm.Load() {
					ch.hwm.Store(kb)
				}
			}
		}
		select {
		case <-ch.exited:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (ch *child) peakRSS() float64 { return float64(ch.hwm.Load()) / 1024 }

func (ch *child) stop() {
	if ch.cmd.Process != nil {
		ch.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-ch.exited:
	case <-time.After(20 * time.Second):
		ch.cmd.Process.Kill()
		<-ch.exited
	}
}
