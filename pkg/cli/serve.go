package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// defaultServeHost is where serve listens unless --addr says otherwise:
// loopback only, so that a first run never exposes the webhook endpoint.
const defaultServeHost = "127.0.0.1"

// serveHints say what to set for each variable serve may be missing.
var serveHints = map[string]string{
	"GITHUB_WEBHOOK_SECRET": "the webhook secret entered in the GitHub App's settings",
	"GITHUB_APP_ID":         "the App ID shown on the GitHub App's settings page",
	"GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)": "a private key generated for the App (PEM), or the path of its .pem file",
}

func newServeCmd(s Streams, info BuildInfo) *cobra.Command {
	var (
		addr        string
		db          string
		printConfig bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the GitHub App webhook server and the whole pipeline on this machine",
		Long: `serve runs dispatcher as a GitHub App backend on one machine: the webhook
endpoint (POST /webhooks/github), GET /health and GET /version, and the
planner and dispatcher workers, all durable in one SQLite file.

It needs GITHUB_WEBHOOK_SECRET, GITHUB_APP_ID and the App's private key
(GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE); every other
variable has a default (see docs/configuration.md). Logs are JSON lines on
stderr at LOG_LEVEL. SIGINT or SIGTERM shuts down gracefully; after a crash,
start it again on the same file and it resumes without losing or repeating a
dispatch (docs/serve.md).`,
		Example: `  # listen on 127.0.0.1:3000 with ./dispatcher.db
  GITHUB_WEBHOOK_SECRET=… GITHUB_APP_ID=12345 GITHUB_APP_PRIVATE_KEY_FILE=app.pem dispatcher serve

  # listen on every interface, store in /var/lib/dispatcher
  dispatcher serve --addr :8080 --db /var/lib/dispatcher/dispatcher.db

  # show the effective configuration (secrets redacted) and exit
  dispatcher serve --print-config`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := settings.Load(s.Getenv)
			if err != nil {
				return &UsageError{Err: err}
			}
			dbSource := "DISPATCHER_DB"
			if cmd.Flags().Changed("db") {
				if strings.TrimSpace(db) == "" {
					return usageErrorf("--db must not be empty")
				}
				st.DBPath = db
				dbSource = "--db"
			}
			if !cmd.Flags().Changed("addr") {
				addr = net.JoinHostPort(defaultServeHost, strconv.Itoa(st.Port))
			} else if err := serveCheckAddr(addr); err != nil {
				return err
			}
			if printConfig {
				return printServeConfig(s.Out, st, addr)
			}
			if missing := st.MissingFor(settings.ModeServe); len(missing) > 0 {
				return &UsageError{Err: missingServeError(missing)}
			}
			if err := serveCheckDB(dbSource, st.DBPath); err != nil {
				return err
			}

			// Listen before the store is opened: a port in use must not
			// leave a new, empty store file behind.
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return serveListenError(addr, err)
			}
			logger := slog.New(slog.NewJSONHandler(s.Err, &slog.HandlerOptions{Level: st.SlogLevel()}))
			ctx := cmd.Context()
			l, err := app.NewLocal(ctx, st, app.BuildInfo(info), logger)
			if err != nil {
				ln.Close()
				// An *app.ConfigError is a usage error (exit 2), and so is
				// a file that is not a SQLite database.
				return storeOpenError(dbSource, st.DBPath, err)
			}
			return l.Run(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultServeHost+":3000", "`HOST:PORT` to listen on; without it, PORT sets the port on "+defaultServeHost)
	f.StringVar(&db, "db", "", "`PATH` of the SQLite store (default DISPATCHER_DB, ./dispatcher.db)")
	f.BoolVar(&printConfig, "print-config", false, "print every setting (secrets redacted) and exit")
	return cmd
}

// serveCheckAddr checks --addr before anything is opened: HOST:PORT with a
// port from 0 to 65535 (0 picks a free port).
func serveCheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--addr %q: expected HOST:PORT (e.g. 127.0.0.1:3000 or :8080)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		return usageErrorf("--addr %q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}

// serveListenError explains a failure to listen on addr: a port in use or
// a privileged port is something the operator fixes with --addr or PORT.
func serveListenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen on %s: address already in use: another process listens there; stop it or choose another address with --addr (or PORT)", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("listen on %s: permission denied: ports below 1024 need privileges; choose another with --addr (or PORT)", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("listen on %s: no network interface of this machine has that address; check the host in --addr", addr)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// serveCheckDB checks the store path before it is opened, so that a
// directory or a missing folder is one plain line (exit 2) rather than
// SQLite's "unable to open database file (14)". source names where the path
// came from: --db or DISPATCHER_DB.
func serveCheckDB(source, path string) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return usageErrorf("%s %s: is a directory (expected the path of the SQLite store file; serve creates it if missing)", source, path)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return usageErrorf("%s %s: %v", source, path, validateFSCause(err))
	}
	dir := filepath.Dir(path)
	if dst, err := os.Stat(dir); err != nil || !dst.IsDir() {
		return usageErrorf("%s %s: folder %s does not exist (serve creates the store file, not its folder)", source, path, dir)
	}
	return nil
}

// storeOpenError classifies an error opening the store at path: a file that
// is not a SQLite database (or one from a newer dispatcher) is a usage
// error naming where the path came from; anything else is returned as is.
func storeOpenError(source, path string, err error) error {
	var fe *local.FileError
	switch {
	case errors.As(err, &fe):
		return usageErrorf("%s %s: %s (expected the store file of dispatcher serve)", source, path, fe.Reason)
	case strings.Contains(err.Error(), "not a database"):
		return usageErrorf("%s %s: not a SQLite database (expected the store file of dispatcher serve)", source, path)
	case errors.Is(err, local.ErrSchemaTooNew):
		return &UsageError{Err: fmt.Errorf("%s %s: %w", source, path, err)}
	}
	return err
}

// missingServeError is the one message naming everything serve lacks.
func missingServeError(missing []string) error {
	var b strings.Builder
	b.WriteString("serve needs a GitHub App; set these environment variables:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, m := range missing {
		fmt.Fprintf(tw, "  %s\t%s\n", m, serveHints[m])
	}
	tw.Flush()
	b.WriteString("(docs/serve.md explains how to create the App; --print-config shows the current settings)")
	return errors.New(b.String())
}

// printServeConfig prints every variable with its effective value, secrets
// redacted, followed by the listen address and the store path.
func printServeConfig(w io.Writer, st *settings.Settings, addr string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range st.Redacted() {
		src := "default"
		if v.Set {
			src = "env"
		}
		fmt.Fprintf(tw, "%s=%s\t# %s\n", v.Name, termSafe(v.Value), src)
	}
	fmt.Fprintf(tw, "# listen address: %s\n", termSafe(addr))
	fmt.Fprintf(tw, "# store: %s\n", termSafe(st.DBPath))
	if missing := st.MissingFor(settings.ModeServe); len(missing) > 0 {
		fmt.Fprintf(tw, "# serve would refuse to start; missing: %s\n", strings.Join(missing, ", "))
	} else if _, err := app.PrivateKey(st); err != nil {
		// A key that is set but unusable (a missing file, DER, an
		// Ed25519 key): serve would refuse to start with this line.
		fmt.Fprintf(tw, "# warning: serve would refuse to start: %s\n", termSafe(err.Error()))
	}
	return tw.Flush()
}
