package ghapp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp/ghfake"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

func TestParsePrivateKey(t *testing.T) {
	gh := ghfake.New(ghfake.WithT(t))
	defer gh.Close()
	for name, pemBytes := range map[string][]byte{"pkcs1": gh.PrivateKeyPEM(), "pkcs8": gh.PrivateKeyPKCS8PEM()} {
		if _, err := ghapp.ParsePrivateKey(pemBytes); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	secret := "MIIEsecretmaterial"
	for name, bad := range map[string][]byte{
		"garbage":        []byte(secret),
		"escaped \\n":    []byte(`-----BEGIN RSA PRIVATE KEY-----\n` + secret + `\n-----END RSA PRIVATE KEY-----`),
		"corrupt pkcs1":  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte(secret)}),
		"corrupt pkcs8":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(secret)}),
		"ec key":         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"public key":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte(secret)}),
		"empty variable": nil,
	} {
		_, err := ghapp.ParsePrivateKey(bad)
		if !errors.Is(err, ghapp.ErrBadPrivateKey) {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error echoes the key: %v", name, err)
		}
	}
	if _, err := ghapp.New(1, []byte("nope")); !errors.Is(err, ghapp.ErrBadPrivateKey) {
		t.Errorf("New with a bad key: %v", err)
	}
	if _, err := ghapp.New(0, gh.PrivateKeyPEM()); err == nil {
		t.Error("New accepted app id 0")
	}
	if _, err := ghapp.New(1, gh.PrivateKeyPEM(), ghapp.WithBaseURL("ftp://x")); err == nil {
		t.Error("New accepted an ftp base URL")
	}
}

// TestWrongKey: a JWT signed with another key is refused by the fake, and
// the error says so without any credential.
func TestWrongKey(t *testing.T) {
	e := setup(t, nil)
	other := ghfake.New(ghfake.WithKey(mustKey(t)))
	defer other.Close()
	c, err := ghapp.New(e.gh.AppID(), other.PrivateKeyPEM(), ghapp.WithBaseURL(e.gh.URL()), ghapp.WithClock(e.clock), ghapp.WithRand(maxRand{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Dispatch(context.Background(), deployReq())
	if !pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "ghs_") {
		t.Errorf("error holds a credential: %v", err)
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	main := "main"
	run := e.gh.AddRun(ghfake.Run{Repository: "acme/api", WorkflowPath: ".github/workflows/ci.yml", Name: "CI", HeadBranch: &main,
		HeadSHA: "abc123", Conclusion: "success", HeadRepository: "acme/api", RunAttempt: 2})
	ev, err := e.c.Run(ctx, "acme/api", run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "completed" || ev.InstallationID != instAcme || ev.Repository.FullName() != "acme/api" || ev.Repository.DefaultBranch != "main" {
		t.Errorf("event = %+v", ev)
	}
	r := ev.Run
	if r.ID != run.ID || r.RunAttempt != 2 || r.Name != "CI" || r.Path != ".github/workflows/ci.yml" || r.HeadBranch == nil || *r.HeadBranch != "main" ||
		r.HeadSHA != "abc123" || r.Conclusion != "success" || r.HeadRepositoryFullName != "acme/api" || !strings.HasSuffix(r.HTMLURL, "/runs/"+itoa(run.ID)) {
		t.Errorf("run = %+v", r)
	}

	pending := e.gh.AddRun(ghfake.Run{Repository: "acme/api", WorkflowPath: ".github/workflows/ci.yml", Status: "queued"})
	ev, err = e.c.Run(ctx, "acme/api", pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "requested" || ev.Run.HeadBranch != nil || ev.Run.Conclusion != "" || ev.Run.HeadRepositoryFullName != "" {
		t.Errorf("pending event = %+v", ev)
	}

	if _, err := e.c.Run(ctx, "acme/api", 424242); !errors.Is(err, ghapp.ErrNotFound) || !pipeline.IsPermanent(err) {
		t.Errorf("unknown run: %v", err)
	}
	if _, err := e.c.Run(ctx, "stranger/repo", run.ID); !errors.Is(err, ghapp.ErrNoInstallation) {
		t.Errorf("no installation: %v", err)
	}
	if _, err := e.c.Run(ctx, "acme/api", 0); err == nil {
		t.Error("run id 0 accepted")
	}
}

// TestFindDispatchedRuns: every workflow_dispatch run of the workflow by
// the App since the time is a candidate, newest first, except the runs
// excluded; on a ref only that ref's.
func TestFindDispatchedRuns(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	since := e.clock.Now()
	bot := e.gh.AppSlug() + "[bot]"
	trunk, release := "trunk", "release"
	add := func(offset time.Duration, actor, event, workflow string, branch *string) ghfake.Run {
		return e.gh.AddRun(ghfake.Run{Repository: "acme/deploy", WorkflowPath: ".github/workflows/" + workflow, Event: event,
			Actor: actor, HeadBranch: branch, CreatedAt: since.Add(offset)})
	}
	add(-time.Minute, bot, "workflow_dispatch", "cd.yml", &trunk) // too old
	first := add(10*time.Second, bot, "workflow_dispatch", "cd.yml", &trunk)
	add(20*time.Second, "octocat", "workflow_dispatch", "cd.yml", &trunk) // someone else
	add(30*time.Second, bot, "push", "cd.yml", &trunk)                    // not a dispatch
	onRelease := add(35*time.Second, bot, "workflow_dispatch", "cd.yml", &release)
	ids := func(rs []pipeline.DispatchResult) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.RunID)
		}
		return out
	}
	runs, err := e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "", since.Add(time.Hour), nil)
	if err != nil || len(runs) != 0 {
		t.Fatalf("future since: %v %v", runs, err)
	}
	runs, err = e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "", since, nil)
	if err != nil || fmt.Sprint(ids(runs)) != fmt.Sprint([]int64{onRelease.ID, first.ID}) {
		t.Fatalf("runs %v err %v, want [%d %d]", ids(runs), err, onRelease.ID, first.ID)
	}
	if !strings.HasSuffix(runs[1].RunURL, "/actions/runs/"+itoa(first.ID)) || runs[1].HTMLURL == "" {
		t.Errorf("run %+v lacks its URLs", runs[1])
	}
	runs, err = e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "trunk", since, nil)
	if err != nil || fmt.Sprint(ids(runs)) != fmt.Sprint([]int64{first.ID}) {
		t.Fatalf("on trunk: %v %v", ids(runs), err)
	}
	runs, err = e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "", since, []int64{onRelease.ID})
	if err != nil || fmt.Sprint(ids(runs)) != fmt.Sprint([]int64{first.ID}) {
		t.Fatalf("excluding %d: %v %v", onRelease.ID, ids(runs), err)
	}
	if n := e.gh.Count("GET /app"); n != 1 {
		t.Errorf("GET /app made %d times, want 1 (slug cached)", n)
	}
	if _, err := e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "nope.yml", "", since, nil); !errors.Is(err, ghapp.ErrNotFound) || !pipeline.IsPermanent(err) {
		t.Errorf("unknown workflow: %v", err)
	}
	e.gh.Fail("GET /repos/acme/deploy/actions/workflows/cd.yml/runs", ghfake.Status(502), ghfake.Status(502), ghfake.Status(502))
	if _, err := e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "", since, nil); !ghapp.IsTransient(err) {
		t.Errorf("5xx storm: %v, want transient", err)
	}
}

// TestFindDispatchedRunRefusesToGuess: the pipeline.GitHub form finds a
// run only when exactly one fits; several is an ambiguous error listing
// them.
func TestFindDispatchedRunRefusesToGuess(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	since := e.clock.Now()
	trunk := "trunk"
	add := func(offset time.Duration) ghfake.Run {
		return e.gh.AddRun(ghfake.Run{Repository: "acme/deploy", WorkflowPath: ".github/workflows/cd.yml", Event: "workflow_dispatch",
			Actor: e.gh.AppSlug() + "[bot]", HeadBranch: &trunk, CreatedAt: since.Add(offset)})
	}
	if _, found, err := e.c.FindDispatchedRun(ctx, instAcme, "acme/deploy", "cd.yml", since); found || err != nil {
		t.Fatalf("none: found %v err %v", found, err)
	}
	one := add(time.Second)
	if res, found, err := e.c.FindDispatchedRun(ctx, instAcme, "acme/deploy", "cd.yml", since); !found || err != nil || res.RunID != one.ID {
		t.Fatalf("one: %+v %v %v", res, found, err)
	}
	two := add(2 * time.Second)
	_, found, err := e.c.FindDispatchedRun(ctx, instAcme, "acme/deploy", "cd.yml", since)
	ge := asError(t, err)
	if found || !errors.Is(err, ghapp.ErrSeveralRuns) || !ghapp.IsAmbiguous(err) || pipeline.IsPermanent(err) ||
		len(ge.Candidates) != 2 || ge.Candidates[0].RunID != two.ID || !strings.Contains(err.Error(), itoa(one.ID)) {
		t.Fatalf("two: found %v err %v", found, err)
	}
}

func TestCreateIssue(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	if err := e.c.CreateIssue(ctx, instAcme, "acme/api", "Dispatch results: ci.yml (success=1, failed=1, denied=1)", "## Source Workflow\n- Run ID: 42\n"); err != nil {
		t.Fatal(err)
	}
	is := e.gh.Issues()
	if len(is) != 1 || is[0].Repository != "acme/api" || !strings.Contains(is[0].Title, "failed=1") || !strings.Contains(is[0].Body, "Run ID: 42") {
		t.Fatalf("issues = %+v", is)
	}
	e.gh.Fail("POST /repos/*/*/issues", ghfake.Status(503))
	if err := e.c.CreateIssue(ctx, instAcme, "acme/api", "t", "b"); err != nil {
		t.Fatalf("503 not retried: %v", err)
	}
	e.gh.Fail("POST /repos/*/*/issues", ghfake.Fault{Status: 410, Message: "Issues are disabled for this repo"})
	err := e.c.CreateIssue(ctx, instAcme, "acme/api", "t", "b")
	if !pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "Issues are disabled") {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.gh.Issues()); n != 2 {
		t.Errorf("issues = %d", n)
	}
}

// TestEnterpriseBaseURL: every call, token minting included, goes under
// the GHES prefix (the fake flags anything outside it).
func TestEnterpriseBaseURL(t *testing.T) {
	requireParser(t)
	e := setup(t, []ghfake.Option{ghfake.WithPrefix("/api/v3")})
	if !strings.HasSuffix(e.gh.URL(), "/api/v3/") {
		t.Fatalf("URL = %s", e.gh.URL())
	}
	if got := e.c.Configs(0).Lookup(context.Background(), "acme/deploy"); got.Status != 1 {
		t.Fatalf("lookup = %+v", got)
	}
	if _, err := e.c.Dispatch(context.Background(), deployReq()); err != nil {
		t.Fatal(err)
	}
	if v := e.gh.Violations(); len(v) != 0 {
		t.Errorf("violations %v", v)
	}
}

// TestFindDispatchedRunsFullRef: a ref given as refs/heads/NAME finds the
// runs on NAME (GitHub's head_branch and branch filter use the name).
func TestFindDispatchedRunsFullRef(t *testing.T) {
	ctx := context.Background()
	e := setup(t, nil)
	since := e.clock.Now()
	trunk := "trunk"
	run := e.gh.AddRun(ghfake.Run{Repository: "acme/deploy", WorkflowPath: ".github/workflows/cd.yml", Event: "workflow_dispatch",
		Actor: e.gh.AppSlug() + "[bot]", HeadBranch: &trunk, CreatedAt: since.Add(time.Second)})
	runs, err := e.c.FindDispatchedRuns(ctx, instAcme, "acme/deploy", "cd.yml", "refs/heads/trunk", since, nil)
	if err != nil || len(runs) != 1 || runs[0].RunID != run.ID {
		t.Fatalf("%+v %v, want run %d", runs, err, run.ID)
	}
}
