// Command dispatcher dispatches GitHub Actions workflows across repositories.
//
// main only gathers the OS handles and build information; everything else
// lives in package cli so that it can be tested.
package main

import (
	"context"
	"os"
	"syscall"

	"github.com/dispatcher-dev/dispatcher/pkg/cli"
)

// Set by the linker (see .goreleaser.yaml and the Makefile). Left at these
// placeholders (go build, go install), they are filled from the module
// version and VCS information Go embeds in the binary (BuildInfo.WithEmbedded).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, cli.System(), cli.BuildInfo{Version: version, Commit: commit, Date: date}.WithEmbedded())
	stop()
	os.Exit(code)
}
