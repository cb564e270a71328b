package cli

import (
	"runtime/debug"
	"testing"
)

func TestBuildInfoFallback(t *testing.T) {
	bi := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/dispatcher-dev/dispatcher", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	got := BuildInfo{Version: "dev", Commit: "none", Date: "unknown"}.fillFrom(bi)
	want := BuildInfo{Version: "dev", Commit: "0123456789ab-dirty", Date: "2026-11-30T10:00:00Z"}
	if got != want {
		t.Errorf("go build in a checkout: %+v, want %+v", got, want)
	}

	// go install …@v1.2.3: the module version, no VCS settings.
	bi = &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}
	if got := (BuildInfo{Version: "dev", Commit: "none", Date: "unknown"}).fillFrom(bi); got.Version != "v1.2.3" || got.Commit != "none" {
		t.Errorf("go install @v1.2.3: %+v", got)
	}

	// -ldflags win over the embedded information.
	set := BuildInfo{Version: "v2.0.0", Commit: "abc1234", Date: "2026-01-01T00:00:00Z"}
	if got := set.fillFrom(&debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "ffff"}}}); got != set {
		t.Errorf("ldflags overridden: %+v", got)
	}
}
