package cli

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
	"github.com/dispatcher-dev/dispatcher/schemas"
)

// planFakeKey is the testscript value holding a script's fake GitHub.
type planFakeKey struct{}

// planFakeState is one script's fake GitHub (nil until "planfake start").
type planFakeState struct{ srv *ghfake.Server }

func init() {
	scriptSetups = append(scriptSetups, func(env *testscript.Env) error {
		st := &planFakeState{}
		env.Values[planFakeKey{}] = st
		env.Defer(func() {
			if st.srv != nil {
				st.srv.Close()
			}
		})
		return nil
	})
	scriptCmds["planfake"] = cmdPlanFake
	scriptCmds["planschema"] = cmdPlanSchema
}

// cmdPlanSchema checks that a file holds a plan matching
// schemas/plan.schema.json:
//
//	planschema FILE
func cmdPlanSchema(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: planschema FILE")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Plan))
	ts.Check(err)
	c := jsonschema.NewCompiler()
	ts.Check(c.AddResource("plan.schema.json", doc))
	sch, err := c.Compile("plan.schema.json")
	ts.Check(err)
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(ts.ReadFile(args[0])))
	if err == nil {
		err = sch.Validate(v)
	}
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s does not match schemas/plan.schema.json: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("%s unexpectedly matches schemas/plan.schema.json", args[0])
	}
}

// cmdPlanFake drives a fake GitHub (pkg/ghapp/ghfake) for plan scripts:
//
//	planfake start DIR                 start it with every DIR/<owner>/<repo>/ as a repository
//	                                   (its files on the default branch; repo.yml's
//	                                   default_branch), the App installed on each owner's
//	                                   repositories; sets GITHUB_API_URL, GITHUB_APP_ID,
//	                                   GITHUB_APP_PRIVATE_KEY_FILE=$WORK/app.pem and a 1 ms
//	                                   retry base delay
//	planfake repo OWNER/NAME [installed]  add an empty repository (App not installed unless "installed")
//	planfake run REPO ID WORKFLOW BRANCH CONCLUSION [STATUS]  add a workflow run
//	planfake fail PATTERN STATUS...    queue faults ("GET /repos/acme/x/contents/**")
//	planfake count PATTERN N           exactly N logged requests match PATTERN
//	planfake readonly                  no dispatch, no issue, no mutating request (token
//	                                   minting aside) and no OpenAPI violation was seen
//	planfake wrongkey FILE             write a valid RSA key that is not the App's
func cmdPlanFake(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("planfake does not support !")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: planfake start|repo|run|fail|count|readonly|wrongkey ...")
	}
	st := ts.Value(planFakeKey{}).(*planFakeState)
	if args[0] != "start" && args[0] != "wrongkey" && st.srv == nil {
		ts.Fatalf("planfake %s: run planfake start first", args[0])
	}
	switch args[0] {
	case "start":
		if len(args) != 2 || st.srv != nil {
			ts.Fatalf("usage: planfake start DIR (once per script)")
		}
		st.srv = ghfake.New()
		planFakeLoad(ts, st.srv, ts.MkAbs(args[1]))
		keyFile := ts.MkAbs("app.pem")
		ts.Check(os.WriteFile(keyFile, st.srv.PrivateKeyPEM(), 0o600))
		ts.Setenv("GITHUB_API_URL", st.srv.URL())
		ts.Setenv("GITHUB_APP_ID", strconv.FormatInt(st.srv.AppID(), 10))
		ts.Setenv("GITHUB_APP_PRIVATE_KEY_FILE", keyFile)
		ts.Setenv("DISPATCH_RETRY_BASE_DELAY_MS", "1")
	case "repo":
		if len(args) < 2 || len(args) > 3 {
			ts.Fatalf("usage: planfake repo OWNER/NAME [installed]")
		}
		st.srv.AddRepo(ghfake.Repo{FullName: args[1]})
		if len(args) == 3 && args[2] == "installed" {
			st.srv.AddInstallation(planFakeInstallation(args[1]), args[1])
		}
	case "run":
		if len(args) < 6 || len(args) > 7 {
			ts.Fatalf("usage: planfake run REPO ID WORKFLOW BRANCH CONCLUSION [STATUS]")
		}
		id, err := strconv.ParseInt(args[2], 10, 64)
		ts.Check(err)
		branch := args[4]
		conclusion := args[5]
		if conclusion == "-" {
			conclusion = ""
		}
		r := ghfake.Run{ID: id, Repository: args[1], WorkflowPath: ".github/workflows/" + args[3],
			Name: strings.TrimSuffix(args[3], ".yml"), HeadBranch: &branch, Conclusion: conclusion,
			HeadSHA: "0123456789abcdef0123456789abcdef01234567", HeadRepository: args[1], Event: "push"}
		if len(args) == 7 {
			r.Status = args[6]
		}
		st.srv.AddRun(r)
	case "fail":
		if len(args) < 3 {
			ts.Fatalf("usage: planfake fail PATTERN STATUS...")
		}
		var faults []ghfake.Fault
		for _, a := range args[2:] {
			code, err := strconv.Atoi(a)
			ts.Check(err)
			faults = append(faults, ghfake.Status(code))
		}
		st.srv.Fail(args[1], faults...)
	case "count":
		if len(args) != 3 {
			ts.Fatalf("usage: planfake count PATTERN N")
		}
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		if got := st.srv.Count(args[1]); got != want {
			ts.Fatalf("%d requests match %q, want %d; log:\n%s", got, args[1], want, planFakeLog(st.srv))
		}
	case "readonly":
		if d := st.srv.Dispatches(); len(d) != 0 {
			ts.Fatalf("plan dispatched %d workflows: %+v", len(d), d)
		}
		if is := st.srv.Issues(); len(is) != 0 {
			ts.Fatalf("plan created %d issues", len(is))
		}
		for _, r := range st.srv.Requests() {
			if r.Method != "GET" && !planFakeTokenRequest(r) {
				ts.Fatalf("mutating request %s %s", r.Method, r.Path)
			}
		}
		if v := st.srv.Violations(); len(v) != 0 {
			ts.Fatalf("requests broke GitHub's OpenAPI description:\n%s", strings.Join(v, "\n"))
		}
	case "wrongkey":
		if len(args) != 2 {
			ts.Fatalf("usage: planfake wrongkey FILE")
		}
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		ts.Check(err)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), pemBytes, 0o600))
	default:
		ts.Fatalf("planfake: unknown subcommand %q", args[0])
	}
}

// planFakeTokenRequest reports whether r mints an installation token: the
// one POST a read-only client makes.
func planFakeTokenRequest(r ghfake.Request) bool {
	return r.Method == "POST" && strings.HasPrefix(r.Path, "/app/installations/") && strings.HasSuffix(r.Path, "/access_tokens")
}

// planFakeInstallation gives every owner its own installation id, so
// that cross-owner targets go through their own installation.
func planFakeInstallation(repo string) int64 {
	owner, _, _ := strings.Cut(repo, "/")
	var h int64 = 7
	for _, c := range strings.ToLower(owner) {
		h = (h*31 + int64(c)) % 1_000_000
	}
	return 1000 + h
}

// planFakeLoad adds DIR/<owner>/<repo>/ as repositories and installs the
// App on all of them.
func planFakeLoad(ts *testscript.TestScript, srv *ghfake.Server, dir string) {
	owners, err := os.ReadDir(dir)
	ts.Check(err)
	for _, o := range owners {
		if !o.IsDir() {
			continue
		}
		repos, err := os.ReadDir(filepath.Join(dir, o.Name()))
		ts.Check(err)
		for _, r := range repos {
			if !r.IsDir() {
				continue
			}
			full := o.Name() + "/" + r.Name()
			root := filepath.Join(dir, o.Name(), r.Name())
			repo := ghfake.Repo{FullName: full, Files: map[string]string{}}
			ts.Check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				if rel == "repo.yml" {
					for _, line := range strings.Split(string(b), "\n") {
						if v, ok := strings.CutPrefix(strings.TrimSpace(line), "default_branch:"); ok {
							repo.DefaultBranch = strings.TrimSpace(v)
						}
					}
					return nil
				}
				repo.Files[filepath.ToSlash(rel)] = string(b)
				return nil
			}))
			srv.AddRepo(repo)
			srv.AddInstallation(planFakeInstallation(full), full)
		}
	}
}

func planFakeLog(srv *ghfake.Server) string {
	var b strings.Builder
	for _, r := range srv.Requests() {
		fmt.Fprintf(&b, "  %s %s -> %d\n", r.Method, r.Path, r.Status)
	}
	return b.String()
}

// planTestEnv starts a fake GitHub with the example world's acme/api and
// acme/deploy, one run, and returns it with the environment plan needs.
func planTestEnv(t *testing.T) (*ghfake.Server, map[string]string) {
	t.Helper()
	srv := ghfake.New(ghfake.WithT(t))
	t.Cleanup(srv.Close)
	srv.AddRepo(ghfake.Repo{FullName: "acme/api", Files: map[string]string{
		"dispatching.yml": "outbound:\n  - source: {workflow: ci.yml}\n    targets:\n      - {repository: deploy, workflow: cd.yml}\n"}})
	srv.AddRepo(ghfake.Repo{FullName: "acme/deploy", Files: map[string]string{
		".github/dispatching.yml": "inbound:\n  - source: {repository: acme/api, workflow: ci.yml}\n    targets:\n      - {workflow: cd.yml}\n"}})
	srv.AddInstallation(42, "acme/api", "acme/deploy")
	branch := "main"
	srv.AddRun(ghfake.Run{ID: 77, Repository: "acme/api", WorkflowPath: ".github/workflows/ci.yml", HeadBranch: &branch,
		Conclusion: "success", HeadSHA: "abc", HeadRepository: "acme/api"})
	return srv, map[string]string{
		"GITHUB_API_URL":               srv.URL(),
		"GITHUB_APP_ID":                strconv.FormatInt(srv.AppID(), 10),
		"DISPATCH_RETRY_BASE_DELAY_MS": "1",
	}
}

// The inline key variable works (with "\n" escapes, as in a .env file),
// the JSON answer matches the schema, and nothing is dispatched.
func TestPlanInlineKeyJSON(t *testing.T) {
	srv, env := planTestEnv(t)
	env["GITHUB_APP_PRIVATE_KEY"] = strings.ReplaceAll(string(srv.PrivateKeyPEM()), "\n", `\n`)
	code, out, stderr := runCLI(t, env, "", "plan", "--repo", "acme/api", "--run", "77", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	validateAgainst(t, compilePlanSchema(t, ""), out)
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Eligible || len(p.Targets) != 1 || p.Targets[0].Decision != plan.DecisionDispatch || p.Source.RunID != 77 {
		t.Fatalf("unexpected plan: %+v", p)
	}
	if n := len(srv.Dispatches()); n != 0 {
		t.Fatalf("plan dispatched %d times", n)
	}
	if strings.Contains(stderr+out, "PRIVATE KEY") {
		t.Fatal("the private key leaked into the output")
	}
}

// The API cost documented in docs/plan.md: for a source and N target
// repositories on one installation, one token, one installation lookup per
// repository, GET repo + GET run, and one or two contents reads per
// repository.
func TestPlanRequestCost(t *testing.T) {
	srv, env := planTestEnv(t)
	env["GITHUB_APP_PRIVATE_KEY"] = string(srv.PrivateKeyPEM())
	if code, _, stderr := runCLI(t, env, "", "plan", "--repo", "acme/api", "--run", "77"); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	counts := map[string]int{}
	for _, r := range srv.Requests() {
		switch {
		case planFakeTokenRequest(r):
			counts["token"]++
		case strings.HasSuffix(r.Path, "/installation"):
			counts["installation"]++
		case strings.Contains(r.Path, "/contents/"):
			counts["contents"]++
		default:
			counts["other"]++
		}
	}
	// acme/api: dispatching.yml (1 read); acme/deploy: dispatching.yml 404,
	// then .github/dispatching.yml (2 reads).
	want := map[string]int{"token": 1, "installation": 2, "contents": 3, "other": 2}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if counts[k] != want[k] {
			t.Errorf("%s requests: %d, want %d (all: %v)", k, counts[k], want[k], counts)
		}
	}
}

// A key file far larger than any App key is refused before parsing, and
// the message names the variable, never the content.
func TestPlanKeyFileTooLarge(t *testing.T) {
	_, env := planTestEnv(t)
	big := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(big, []byte(strings.Repeat("A", app.MaxPrivateKeySize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	env["GITHUB_APP_PRIVATE_KEY_FILE"] = big
	code, _, stderr := runCLI(t, env, "", "plan", "--repo", "acme/api", "--run", "77")
	if code != ExitUsage || !strings.Contains(stderr, "GITHUB_APP_PRIVATE_KEY_FILE") || strings.Contains(stderr, "AAAA") {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
}

// Flag validation happens before any request.
func TestPlanBadFlags(t *testing.T) {
	srv, env := planTestEnv(t)
	env["GITHUB_APP_PRIVATE_KEY"] = string(srv.PrivateKeyPEM())
	for _, args := range [][]string{
		{"plan", "--repo", "acme", "--run", "1"},
		{"plan", "--repo", "acme/api/x", "--run", "1"},
		{"plan", "--repo", "acme/api", "--run", "abc"},
		{"plan", "--repo", "acme/api", "--run", "0"},
		{"plan", "--repo", "acme/api", "--run", "1", "--format", "yaml"},
		{"plan", "--repo", "acme/api"},
		{"plan", "--run", "77"},
		{"plan", "--repo", "acme/web", "--run", "https://github.com/acme/api/actions/runs/77"},
		{"plan", "--run", "https://github.com/acme/api/pull/77"},
	} {
		if code, _, stderr := runCLI(t, env, "", args...); code != ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with one line", args, code, stderr)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("bad flags still made %d requests", n)
	}
}
