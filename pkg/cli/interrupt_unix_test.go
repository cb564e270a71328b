//go:build unix

package cli

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestSignalContextSignal sends this process a real signal (SIGUSR1, which
// nothing else in the tests uses): the context is cancelled with a
// *SignalError naming it. It waits on the context, not on a clock.
func TestSignalContextSignal(t *testing.T) {
	ctx, stop := SignalContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	var se *SignalError
	if !errors.As(context.Cause(ctx), &se) || se.Signal != syscall.SIGUSR1 || se.ExitCode() != 128+int(syscall.SIGUSR1) {
		t.Errorf("cause = %v, want a *SignalError for SIGUSR1", context.Cause(ctx))
	}
}
