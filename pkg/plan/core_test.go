package plan

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pkg/plan is a [core] package: it must not do I/O or reach the network,
// AWS, GitHub, SQL or the terminal, directly or through a dependency.
func TestCoreImports(t *testing.T) {
	// Direct imports of the non-test files: no I/O packages at all.
	forbiddenDirect := []string{"os", "io", "io/fs", "net", "net/http", "os/exec", "syscall", "time", "math/rand", "math/rand/v2", "log", "log/slog", "unsafe"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenDirect {
				if path == bad {
					t.Errorf("%s imports %q; pkg/plan does no I/O and reads no clock", f, path)
				}
			}
		}
	}

	// Transitive dependencies: no network, database, cloud or terminal code.
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	forbiddenPrefixes := []string{
		"net/http", "database/sql", "os/exec",
		"github.com/aws/", "github.com/google/go-github", "github.com/bradleyfalzon/",
		"modernc.org/", "github.com/charmbracelet/", "github.com/mattn/", "github.com/spf13/",
		"github.com/dispatcher-dev/dispatcher/pkg/ghapp", "github.com/dispatcher-dev/dispatcher/pkg/local",
		"github.com/dispatcher-dev/dispatcher/pkg/awsinfra", "github.com/dispatcher-dev/dispatcher/pkg/cli",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range forbiddenPrefixes {
			if dep == strings.TrimSuffix(bad, "/") || strings.HasPrefix(dep, bad) {
				t.Errorf("pkg/plan depends on %s", dep)
			}
		}
	}
}
