//go:build !unix

package main

import "os"

// quietStdout returns os.Stdout (kumo's delivery logs stay visible).
func quietStdout() *os.File { return os.Stdout }
