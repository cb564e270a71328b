package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// corePackages must stay free of I/O adapters (DESIGN.md section 4): no
// AWS, GitHub, HTTP, SQL or terminal packages, directly or indirectly.
var corePackages = []string{
	"github.com/dispatcher-dev/dispatcher/pkg/dispatching",
	"github.com/dispatcher-dev/dispatcher/pkg/plan",
	"github.com/dispatcher-dev/dispatcher/pkg/facts",
	"github.com/dispatcher-dev/dispatcher/schemas",
}

// forbiddenImports are import path prefixes a core package may not reach.
var forbiddenImports = []string{
	"github.com/aws/",
	"github.com/google/go-github/",
	"github.com/bradleyfalzon/ghinstallation",
	"net/http",
	"database/sql",
	"modernc.org/sqlite",
	"github.com/charmbracelet/",
	"github.com/muesli/termenv",
	"github.com/mattn/go-isatty",
}

func TestCoreImports(t *testing.T) {
	for _, pkg := range corePackages {
		t.Run(pkg[strings.LastIndex(pkg, "/")+1:], func(t *testing.T) {
			// -e: report what can be listed even while a package is
			// mid-edit; -deps: the whole transitive closure.
			out, err := exec.Command("go", "list", "-e", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
			if err != nil {
				t.Fatalf("go list %s: %v", pkg, err)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 || deps[len(deps)-1] != pkg {
				t.Fatalf("go list %s listed no such package: %q", pkg, deps)
			}
			for _, dep := range deps {
				if forbiddenImport(dep) {
					t.Errorf("%s depends on %s, which a core package may not import (see the chain with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' %s)", pkg, dep, pkg)
				}
			}
		})
	}
}

// forbiddenImport reports whether dep is, or is under, a forbidden path.
func forbiddenImport(dep string) bool {
	for _, bad := range forbiddenImports {
		if strings.HasSuffix(bad, "/") {
			if strings.HasPrefix(dep, bad) {
				return true
			}
		} else if dep == bad || strings.HasPrefix(dep, bad+"/") {
			return true
		}
	}
	return false
}

// TestCoreImportsCatches proves the check sees a forbidden import.
func TestCoreImportsCatches(t *testing.T) {
	for dep, want := range map[string]bool{"net/http": true, "net/http/httptest": true, "net/url": false, "github.com/aws/aws-sdk-go-v2/service/sqs": true, "github.com/google/go-github/v89/github": true, "github.com/google/go-cmp/cmp": false, "github.com/mattn/go-isatty": true, "github.com/mattn/go-runewidth": false} {
		if got := forbiddenImport(dep); got != want {
			t.Errorf("forbiddenImport(%q) = %v, want %v", dep, got, want)
		}
	}
	out, err := exec.Command("go", "list", "-e", "-deps", "-f", "{{.ImportPath}}", "github.com/dispatcher-dev/dispatcher/pkg/cli").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "github.com/charmbracelet/lipgloss\n") {
		t.Error("go list -deps of pkg/cli does not show lipgloss; the core import check would miss real imports")
	}
}
