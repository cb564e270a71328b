package plan

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/schemas"
)

// The reason codes, the schema's enums and docs/decisions.md agree.
func TestReasonsDocumented(t *testing.T) {
	var sch struct {
		Defs map[string]struct {
			Enum []string `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schemas.Plan, &sch); err != nil {
		t.Fatal(err)
	}
	if got, want := sch.Defs["sourceReason"].Enum, append([]string{""}, SourceReasons()...); !slices.Equal(got, want) {
		t.Errorf("schema sourceReason enum = %q, want %q", got, want)
	}
	if got := sch.Defs["targetReason"].Enum; !slices.Equal(got, TargetReasons()) {
		t.Errorf("schema targetReason enum = %q, want %q", got, TargetReasons())
	}
	doc, err := os.ReadFile("../../docs/decisions.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(SourceReasons(), TargetReasons()...) {
		if !strings.Contains(string(doc), "`"+r+"`") {
			t.Errorf("docs/decisions.md does not document %s", r)
		}
	}
}
