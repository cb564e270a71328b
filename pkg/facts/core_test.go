package facts

import (
	"os/exec"
	"strings"
	"testing"
)

// pkg/facts is [core]: no I/O, no SQL, no HTTP, no cloud or GitHub clients.
func TestCoreImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`+"\n"+`{{join .Deps "\n"}}`, ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		t.Fatal("go list returned nothing")
	}
	forbidden := []string{"database/sql", "net", "net/http", "os/exec", "io/ioutil", "modernc.org/", "github.com/aws/",
		"github.com/google/go-github", "github.com/charmbracelet/", "github.com/bradleyfalzon/"}
	for _, p := range lines {
		for _, f := range forbidden {
			if p == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(p, f)) {
				t.Errorf("pkg/facts depends on %s", p)
			}
		}
	}
	direct, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(direct)) {
		if p == "os" || p == "io" || p == "bufio" || strings.HasPrefix(p, "github.com/") {
			t.Errorf("pkg/facts imports %s directly", p)
		}
	}
}
