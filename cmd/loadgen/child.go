package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/cli"
	"github.com/dispatcher-dev/dispatcher/pkg/ghapp"
	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// childArg makes loadgen run as the measured process.
const childArg = "__child"

// runChild runs "serve ADDR" (dispatcher serve, exactly as the binary
// runs it, reading the environment) or "null ADDR" (the null service).
func runChild(ctx context.Context, args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "loadgen child: want serve|null ADDR")
		return 2
	}
	if path := os.Getenv("LOADGEN_CHILD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	switch args[0] {
	case "serve":
		return cli.Main(ctx, []string{"dispatcher", "serve", "--addr", args[1]}, cli.System(), cli.BuildInfo{Version: "loadgen"})
	case "null":
		if err := runNull(ctx, args[1]); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen null service: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "loadgen child: unknown service %q\n", args[0])
	return 2
}

// runNull is the null service: verify the signature, answer 202, make the
// one dispatch call (after answering, as serve does), keep nothing.
func runNull(ctx context.Context, addr string) error {
	st, err := settings.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	key, err := app.PrivateKey(st)
	if err != nil {
		return err
	}
	gh, err := ghapp.New(st.GitHubAppID, key, ghapp.WithBaseURL(st.GitHubAPIURL+"/"), ghapp.WithMaxRetries(0))
	if err != nil {
		return err
	}
	secret := []byte(st.WebhookSecret.Value())
	targetRepo, workflow := os.Getenv("LOADGEN_NULL_TARGET"), os.Getenv("LOADGEN_NULL_WORKFLOW")
	inst, _ := strconv.ParseInt(os.Getenv("LOADGEN_NULL_INSTALLATION"), 10, 64)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"status":"ok"}`) })
	mux.HandleFunc("POST /webhooks/github", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 25<<20))
		if err != nil || !pipeline.VerifySignature(secret, body, r.Header.Get(pipeline.HeaderSignature)) {
			http.Error(w, `{"error":"Invalid webhook signature"}`, http.StatusUnauthorized)
			return
		}
		ev, detail := pipeline.ParseWorkflowRun(body)
		if detail != "" {
			http.Error(w, detail, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"accepted":true}`)
		go func() {
			_, err := gh.Dispatch(context.WithoutCancel(r.Context()), pipeline.DispatchRequest{
				InstallationID: inst, Repository: targetRepo, Workflow: workflow, Ref: "main",
				Inputs: map[string]string{"sha": ev.Run.HeadSHA},
			})
			if err != nil {
				slog.Error("null service dispatch failed", "error", err)
			}
		}()
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
