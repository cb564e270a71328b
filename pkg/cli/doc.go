// Package cli holds the dispatcher command tree (cobra), one file per
// command, and the single place where errors are classified into exit codes.
//
// Exit codes: 0 success or nothing found, 1 problems found or the operation
// failed, 2 usage or input error.
package cli
