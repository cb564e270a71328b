//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// quietStdout points file descriptor 1 at /dev/null (where kumo's
// delivery logs go) and returns a file writing to the original standard
// output; on failure it returns os.Stdout unchanged.
func quietStdout() *os.File {
	fd, err := unix.Dup(1)
	if err != nil {
		return os.Stdout
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		unix.Close(fd)
		return os.Stdout
	}
	defer null.Close()
	if err := unix.Dup2(int(null.Fd()), 1); err != nil {
		unix.Close(fd)
		return os.Stdout
	}
	return os.NewFile(uintptr(fd), "stdout")
}
