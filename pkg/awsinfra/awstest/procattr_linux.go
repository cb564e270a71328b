//go:build linux

package awstest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child process end when the process that started
// it ends, even by a panic or a kill, so no emulator or function outlives
// a crashed test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
