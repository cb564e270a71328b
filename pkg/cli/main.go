package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/charmbracelet/x/term"
	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/mattn/go-isatty"
)

// Exit codes returned by Main.
const (
	ExitOK       = 0 // success, or nothing found
	ExitProblems = 1 // problems found, or the operation failed
	ExitUsage    = 2 // usage or input error
)

// BuildInfo describes the binary; main sets it from linker flags.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Streams are the process handles a command may use. All terminal I/O goes
// through them so that tests can swap in buffers.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) (string, bool) // os.LookupEnv in production
	Getwd  func() (string, error)
	// OutTTY reports whether Out is a terminal (colour and progress are
	// only used on a terminal, and never when NO_COLOR is set).
	OutTTY bool
	ErrTTY bool
	// OutWidth returns the width of the terminal Out is, in columns, or 0
	// when unknown; nil means unknown. COLUMNS overrides it.
	OutWidth func() int

	// color is the --color flag of the running command line (set by
	// newRootCmd); nil means auto.
	color *colorMode
}

// System returns Streams bound to the real process.
func System() Streams {
	return Streams{
		In:     os.Stdin,
		Out:    os.Stdout,
		Err:    os.Stderr,
		Getenv: os.LookupEnv,
		Getwd:  os.Getwd,
		OutTTY: isatty.IsTerminal(os.Stdout.Fd()) || isatty.IsCygwinTerminal(os.Stdout.Fd()),
		ErrTTY: isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd()),
		OutWidth: func() int {
			w, _, err := term.GetSize(os.Stdout.Fd())
			if err != nil {
				return 0
			}
			return w
		},
	}
}

// Env returns the value of an environment variable, or "" when unset.
func (s Streams) Env(name string) string {
	if s.Getenv == nil {
		return ""
	}
	v, _ := s.Getenv(name)
	return v
}

// Color reports whether output to a stream with the given TTY state may be
// coloured. --color always and --color never decide alone; with --color
// auto (the default) colour is used only on a terminal, never when NO_COLOR
// is set to a non-empty value (https://no-color.org), and never when
// TERM=dumb (a terminal that cannot show escape sequences).
func (s Streams) Color(tty bool) bool {
	if s.color != nil {
		switch *s.color {
		case colorAlways:
			return true
		case colorNever:
			return false
		}
	}
	if s.Env("NO_COLOR") != "" || s.Env("TERM") == "dumb" {
		return false
	}
	return tty
}

// TermWidth is the width text tables must fit on Out: COLUMNS when set to
// a positive number, else the terminal's width; 0 (no limit) when Out is
// not a terminal, so a pipe or a file gets every line whole.
func (s Streams) TermWidth() int {
	if !s.OutTTY {
		return 0
	}
	if n, err := strconv.Atoi(s.Env("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if s.OutWidth != nil {
		return max(s.OutWidth(), 0)
	}
	return 0
}

// colorMode is the value of --color.
type colorMode string

// The values of --color.
const (
	colorAuto   colorMode = "auto"
	colorAlways colorMode = "always"
	colorNever  colorMode = "never"
)

// String returns the value (pflag.Value).
func (c *colorMode) String() string { return string(*c) }

// Set checks and stores a value (pflag.Value).
func (c *colorMode) Set(v string) error {
	switch colorMode(v) {
	case colorAuto, colorAlways, colorNever:
		*c = colorMode(v)
		return nil
	}
	return fmt.Errorf("expected auto, always or never")
}

// Type names the value in usage messages (pflag.Value).
func (c *colorMode) Type() string { return "color" }

// UsageError is an error in how a command was called or in its input
// (bad flag value, missing file, unreadable directory). Main maps it to exit 2.
type UsageError struct{ Err error }

// Error returns the message (it implements error).
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *UsageError) Unwrap() error { return e.Err }

// usageErrorf builds a UsageError.
func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrProblems is returned by a command that already printed its findings
// (lint problems, failed operation summary) and only needs exit code 1.
var ErrProblems = errors.New("problems found")

// SilentError carries an exit code for an error whose message was already
// printed.
type SilentError struct{ Code int }

// Error returns the message (it implements error).
func (e *SilentError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Main runs the dispatcher command line with args (args[0] is the program
// name) and returns the process exit code. It is the only place that turns
// errors into exit codes and prints them.
func Main(ctx context.Context, args []string, s Streams, info BuildInfo) int {
	var rest []string
	if len(args) > 0 {
		rest = args[1:]
		// Inside AWS Lambda the binary is called "bootstrap" with no
		// arguments: behave as "dispatcher lambda".
		if filepath.Base(args[0]) == "bootstrap" && len(rest) == 0 && s.Env("AWS_LAMBDA_RUNTIME_API") != "" {
			rest = []string{"lambda"}
		}
	}
	root := newRootCmd(s, info)
	root.SetArgs(rest)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		// Stopped by Ctrl-C (or SIGTERM): exit 128+N as shells expect
		// (130 for SIGINT), whatever error the interruption caused.
		var sig *SignalError
		if errors.As(context.Cause(ctx), &sig) {
			fmt.Fprintln(s.Err, "dispatcher: interrupted")
			return sig.ExitCode()
		}
	}
	return exitCode(usageRewrite(cmd, err), s.Err)
}

// SignalError is the cause of a context that SignalContext cancelled.
type SignalError struct{ Signal os.Signal }

// Error returns the message (it implements error).
func (e *SignalError) Error() string { return "interrupted by " + e.Signal.String() }

// ExitCode is 128 plus the signal number (130 for SIGINT), the status a
// shell reports for a program killed by that signal.
func (e *SignalError) ExitCode() int {
	if n, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 128 + int(syscall.SIGINT)
}

// SignalContext returns a context that the first of sigs cancels, with a
// *SignalError as its cause (Main turns it into exit status 130 for
// SIGINT). After that first signal the default handling is restored, so a
// second Ctrl-C stops the process at once. stop releases the signals.
func SignalContext(parent context.Context, sigs ...os.Signal) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			signal.Stop(ch)
			cancel(&SignalError{Signal: sig})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// exitCode classifies err once and prints it (if it was not printed yet).
func exitCode(err error, w io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var silent *SilentError
	if errors.As(err, &silent) {
		return silent.Code
	}
	if errors.Is(err, ErrProblems) {
		return ExitProblems
	}
	var usage *UsageError
	var cfgErr *app.ConfigError
	if errors.As(err, &usage) || errors.As(err, &cfgErr) || isCobraUsageError(err) {
		fmt.Fprintf(w, "dispatcher: %s\n", termSafeLines(err.Error()))
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "dispatcher: interrupted")
		return ExitProblems
	}
	fmt.Fprintf(w, "dispatcher: %s\n", termSafeLines(err.Error()))
	return ExitProblems
}

// isCobraUsageError recognises cobra's own argument and flag errors, which
// it returns as plain errors.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag", "if any flags in the group", "none of the others can be"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
