package main

// Checks of the release build (.goreleaser.yaml). goreleaser itself cannot be
// installed where this project is built (docs/aws.md, "Release build"), so
// TestGoreleaserConfig checks the file's structure and
// TestReleaseBuilds runs the `go build` commands goreleaser would run.

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// The variables the linker sets; this fails to compile if one is renamed.
var _ = []*string{&version, &commit, &date}

const repoRoot = "../.."

type goreleaserBuild struct {
	ID           string   `yaml:"id"`
	Main         string   `yaml:"main"`
	Binary       string   `yaml:"binary"`
	Env          []string `yaml:"env"`
	Flags        []string `yaml:"flags"`
	Tags         []string `yaml:"tags"`
	Ldflags      []string `yaml:"ldflags"`
	ModTimestamp string   `yaml:"mod_timestamp"`
	Goos         []string `yaml:"goos"`
	Goarch       []string `yaml:"goarch"`
}

type goreleaserArchive struct {
	ID              string   `yaml:"id"`
	IDs             []string `yaml:"ids"`
	Formats         []string `yaml:"formats"`
	FormatOverrides []struct {
		Goos    string   `yaml:"goos"`
		Formats []string `yaml:"formats"`
	} `yaml:"format_overrides"`
	NameTemplate string   `yaml:"name_template"`
	Files        []string `yaml:"files"`
}

// goreleaserConfig is the part of goreleaser's v2 configuration this
// project uses; decoding is strict, so a misspelt or retired key (such as
// archives' `format`, now `formats`) fails the test.
type goreleaserConfig struct {
	Version     int    `yaml:"version"`
	ProjectName string `yaml:"project_name"`
	Before      struct {
		Hooks []string `yaml:"hooks"`
	} `yaml:"before"`
	Builds   []goreleaserBuild   `yaml:"builds"`
	Archives []goreleaserArchive `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
	Snapshot struct {
		VersionTemplate string `yaml:"version_template"`
	} `yaml:"snapshot"`
	Changelog struct {
		Sort    string `yaml:"sort"`
		Filters struct {
			Exclude []string `yaml:"exclude"`
		} `yaml:"filters"`
	} `yaml:"changelog"`
}

func parseGoreleaser(src []byte) (*goreleaserConfig, error) {
	var c goreleaserConfig
	if err := yaml.UnmarshalWithOptions(src, &c, yaml.Strict()); err != nil {
		return nil, fmt.Errorf(".goreleaser.yaml: %w", err)
	}
	return &c, nil
}

func loadGoreleaser(t *testing.T) *goreleaserConfig {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseGoreleaser(src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *goreleaserConfig) build(id string) *goreleaserBuild {
	for i := range c.Builds {
		if c.Builds[i].ID == id {
			return &c.Builds[i]
		}
	}
	return nil
}

func (c *goreleaserConfig) archive(id string) *goreleaserArchive {
	for i := range c.Archives {
		if c.Archives[i].ID == id {
			return &c.Archives[i]
		}
	}
	return nil
}

var ldflagVarRE = regexp.MustCompile(`-X main\.(\w+)=`)

func ldflagVars(s string) []string {
	var out []string
	for _, m := range ldflagVarRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// goreleaserProblems checks a .goreleaser.yaml against what the project
// releases; root is the repository (for the archives' files).
func goreleaserProblems(src []byte, root string) (problems []string) {
	c, err := parseGoreleaser(src)
	if err != nil {
		return []string{err.Error()}
	}
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.Version != 2 || c.ProjectName != "dispatcher" {
		fail("version %d, project_name %q: want 2 and dispatcher", c.Version, c.ProjectName)
	}
	var ids []string
	for _, b := range c.Builds {
		ids = append(ids, b.ID)
		if b.Main != "./cmd/dispatcher" {
			fail("build %s builds %s: only ./cmd/dispatcher is released (not cmd/loadgen)", b.ID, b.Main)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
			fail("build %s: want CGO_ENABLED=0 and -trimpath", b.ID)
		}
		if got := ldflagVars(strings.Join(b.Ldflags, " ")); !slices.Equal(got, []string{"commit", "date", "version"}) {
			fail("build %s: ldflags set main.%v, want commit, date and version", b.ID, got)
		}
	}
	if !slices.Equal(ids, []string{"dispatcher", "lambda"}) {
		fail("builds %v, want dispatcher and lambda", ids)
		return problems
	}

	// The same variables as `make build`.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		fail("%v", err)
	}
	if got := ldflagVars(string(mk)); !slices.Equal(got, []string{"commit", "date", "version"}) {
		fail("the Makefile sets main.%v; keep it and .goreleaser.yaml in step", got)
	}

	cli := c.build("dispatcher")
	if cli.Binary != "dispatcher" || !sameSet(cli.Goos, []string{"linux", "darwin", "windows"}) || !sameSet(cli.Goarch, []string{"amd64", "arm64"}) {
		fail("build dispatcher: binary %q for %v x %v; want dispatcher for linux, darwin, windows x amd64, arm64", cli.Binary, cli.Goos, cli.Goarch)
	}
	lambda := c.build("lambda")
	if lambda.Binary != "bootstrap" || !slices.Equal(lambda.Goos, []string{"linux"}) || !slices.Equal(lambda.Goarch, []string{"arm64"}) || !slices.Contains(lambda.Tags, "lambda.norpc") {
		fail("build lambda: binary %q for %v x %v with tags %v; want bootstrap for linux/arm64 with lambda.norpc", lambda.Binary, lambda.Goos, lambda.Goarch, lambda.Tags)
	}

	// Every build is in exactly one archive.
	seen := map[string]int{}
	for _, a := range c.Archives {
		for _, id := range a.IDs {
			seen[id]++
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			fail("build %s is in %d archives, want 1", id, seen[id])
		}
	}
	arc := c.archive("dispatcher")
	if arc == nil || !slices.Equal(arc.IDs, []string{"dispatcher"}) || !slices.Equal(arc.Formats, []string{"tar.gz"}) {
		fail("archive dispatcher: want ids [dispatcher], formats [tar.gz]; got %+v", arc)
		return problems
	}
	if len(arc.FormatOverrides) != 1 || arc.FormatOverrides[0].Goos != "windows" || !slices.Equal(arc.FormatOverrides[0].Formats, []string{"zip"}) {
		fail("archive dispatcher: want a zip on windows; got %+v", arc.FormatOverrides)
	}
	for _, want := range []string{"README.md", "LICENSE", "completions/*", "schemas/*.json"} {
		if !slices.Contains(arc.Files, want) {
			fail("archive dispatcher does not ship %s", want)
		}
	}
	for _, glob := range arc.Files {
		m, _ := filepath.Glob(filepath.Join(root, glob))
		if len(m) == 0 {
			fail("archive dispatcher: %q matches no file", glob)
		}
	}
	for _, comp := range []string{"dispatcher.bash", "dispatcher.zsh", "dispatcher.fish", "dispatcher.ps1"} {
		if _, err := os.Stat(filepath.Join(root, "completions", comp)); err != nil {
			fail("completions/%s is missing from the archive: %v", comp, err)
		}
	}
	la := c.archive("lambda")
	if la == nil || !slices.Equal(la.IDs, []string{"lambda"}) || !slices.Equal(la.Formats, []string{"zip"}) || !slices.Equal(la.Files, []string{"none*"}) {
		fail("archive lambda: want ids [lambda], formats [zip], files [none*] (bootstrap alone); got %+v", la)
	} else if !strings.Contains(la.NameTemplate, "lambda") {
		fail("archive lambda: name %q must say lambda", la.NameTemplate)
	}
	if c.Checksum.NameTemplate == "" || c.Checksum.Algorithm != "sha256" {
		fail("checksum: want a name and sha256; got %+v", c.Checksum)
	}
	return problems
}

func TestGoreleaserConfig(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range goreleaserProblems(src, repoRoot) {
		t.Error(p)
	}
}

// TestGoreleaserConfigCatches breaks the file one way at a time and asserts
// that the check reports it.
func TestGoreleaserConfigCatches(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new, want string }{
		{"retired archive key", "    formats:\n      - tar.gz", "    format: tar.gz", "unknown field"},
		{"no windows", "      - darwin\n      - windows\n", "      - darwin\n", "want dispatcher for linux, darwin, windows"},
		{"lambda with RPC", "    tags:\n      - lambda.norpc\n", "", "with lambda.norpc"},
		{"lambda on amd64", "    goarch:\n      - arm64\n\narchives:", "    goarch:\n      - amd64\n\narchives:", "want bootstrap for linux/arm64"},
		{"loadgen shipped", "    main: ./cmd/dispatcher\n    binary: dispatcher", "    main: ./cmd/loadgen\n    binary: dispatcher", "not cmd/loadgen"},
		{"no schemas", "      - schemas/*.json\n", "", "does not ship schemas/*.json"},
		{"no commit", " -X main.commit={{ .ShortCommit }}", "", "want commit, date and version"},
		{"cgo on", "      - CGO_ENABLED=0\n    flags:\n      - -trimpath\n    tags:", "      - CGO_ENABLED=1\n    flags:\n      - -trimpath\n    tags:", "want CGO_ENABLED=0"},
		{"no checksums", "  algorithm: sha256\n", "", "checksum"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(src, []byte(tc.old)) {
				t.Fatalf(".goreleaser.yaml does not contain %q: update this test", tc.old)
			}
			broken := bytes.Replace(src, []byte(tc.old), []byte(tc.new), 1)
			problems := goreleaserProblems(broken, repoRoot)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem containing %q; got %q", tc.want, problems)
			}
		})
	}
}

// releaseTarget is one `go build` goreleaser runs.
type releaseTarget struct {
	build    *goreleaserBuild
	goos     string
	goarch   string
	filename string
}

const releaseVersion = "v0.0.0-releasetest"

// expand fills the goreleaser templates this project uses.
func expand(s string) string {
	return strings.NewReplacer(
		"{{ .Version }}", releaseVersion,
		"{{ .ShortCommit }}", "0000000",
		"{{ .Date }}", "2026-01-01T00:00:00Z",
	).Replace(s)
}

// TestReleaseBuilds runs the `go build` of every release target with the
// flags of .goreleaser.yaml: each compiles, the build settings are the
// configured ones, the version is linked in, and the Lambda bootstrap stays
// under 30 MB. Cross-compiling six targets from a cold cache took 6-10
// minutes each on the 2-core build machine (about 20 s in all once cached),
// so it runs only with DISPATCHER_RELEASE_BUILD=1:
//
//	DISPATCHER_RELEASE_BUILD=1 go test -run TestReleaseBuilds -v ./cmd/dispatcher
func TestReleaseBuilds(t *testing.T) {
	if os.Getenv("DISPATCHER_RELEASE_BUILD") != "1" {
		t.Skip("set DISPATCHER_RELEASE_BUILD=1 to run the release builds")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	c := loadGoreleaser(t)
	var targets []releaseTarget
	for i := range c.Builds {
		b := &c.Builds[i]
		for _, goos := range b.Goos {
			for _, goarch := range b.Goarch {
				name := b.Binary
				if goos == "windows" {
					name += ".exe"
				}
				targets = append(targets, releaseTarget{b, goos, goarch, name})
			}
		}
	}
	if len(targets) != 7 {
		t.Fatalf("%d release targets, want 7 (6 CLI + the Lambda bootstrap)", len(targets))
	}
	out := t.TempDir()
	for _, tg := range targets {
		t.Run(tg.build.ID+"_"+tg.goos+"_"+tg.goarch, func(t *testing.T) {
			bin := filepath.Join(out, tg.build.ID+"_"+tg.goos+"_"+tg.goarch, tg.filename)
			args := []string{"build", "-o", bin}
			args = append(args, tg.build.Flags...)
			if len(tg.build.Tags) > 0 {
				args = append(args, "-tags", strings.Join(tg.build.Tags, ","))
			}
			args = append(args, "-ldflags", expand(strings.Join(tg.build.Ldflags, " ")), tg.build.Main)
			cmd := exec.Command(goBin, args...)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "GOOS="+tg.goos, "GOARCH="+tg.goarch)
			cmd.Env = append(cmd.Env, tg.build.Env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			info, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			want := map[string]string{"GOOS": tg.goos, "GOARCH": tg.goarch, "CGO_ENABLED": "0", "-trimpath": "true"}
			if len(tg.build.Tags) > 0 {
				want["-tags"] = strings.Join(tg.build.Tags, ",")
			}
			for k, v := range want {
				if settings[k] != v {
					t.Errorf("build setting %s = %q, want %q", k, settings[k], v)
				}
			}
			// -trimpath keeps -ldflags out of the build info: look for the
			// linked version in the binary itself.
			if data, err := os.ReadFile(bin); err != nil || !bytes.Contains(data, []byte(releaseVersion)) {
				t.Errorf("the binary does not hold the version %s set by -ldflags (%v)", releaseVersion, err)
			}
			st, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s/%s %s: %d bytes (%.1f MiB)", tg.goos, tg.goarch, tg.filename, st.Size(), float64(st.Size())/(1<<20))
			if tg.build.ID == "lambda" && st.Size() >= 30_000_000 {
				t.Errorf("the Lambda bootstrap is %d bytes; the budget is 30 MB", st.Size())
			}
			// The host's binary runs: its version is the linked one.
			if tg.goos == runtime.GOOS && tg.goarch == runtime.GOARCH && tg.build.ID == "dispatcher" {
				v, err := exec.Command(bin, "version").CombinedOutput()
				if err != nil || !strings.Contains(string(v), releaseVersion) {
					t.Errorf("%s version: %v\n%s", bin, err, v)
				}
			}
		})
	}
}
