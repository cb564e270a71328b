package awstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RuntimeAPI is a fake AWS Lambda Runtime API (the 2018-06-01 interface a
// provided.al2023 "bootstrap" polls): GET /runtime/invocation/next hands
// out the invocations queued by Invoke, POST /runtime/invocation/{id}/
// response or /error answers them, POST /runtime/init/error records a
// failed start. Start the function with AWS_LAMBDA_RUNTIME_API=Addr().
type RuntimeAPI struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string
	// Timeout is the deadline given to each invocation (30 s when 0).
	Timeout time.Duration

	srv     *httptest.Server
	pending chan *invocation
	mu      sync.Mutex
	byID    map[string]*invocation
	seq     atomic.Int64
	initErr []string
	polled  chan struct{}
	once    sync.Once
}

type invocation struct {
	id      string
	payload []byte
	done    chan Result
}

// Result is a function's answer to one invocation.
type Result struct {
	Payload []byte
	// Error is true when the function answered on /error (the payload is
	// then {"errorMessage","errorType"}).
	Error bool
}

// NewRuntimeAPI starts the fake on a free port of 127.0.0.1.
func NewRuntimeAPI() *RuntimeAPI {
	r := &RuntimeAPI{
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:dispatcher",
		pending:     make(chan *invocation, 64), byID: map[string]*invocation{}, polled: make(chan struct{}),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// Addr is the value of AWS_LAMBDA_RUNTIME_API (host:port).
func (r *RuntimeAPI) Addr() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// Close stops the server.
func (r *RuntimeAPI) Close() { r.srv.CloseClientConnections(); r.srv.Close() }

// Polled is closed when the function first asks for an invocation (it
// finished its initialisation).
func (r *RuntimeAPI) Polled() <-chan struct{} { return r.polled }

// InitErrors returns the errors the function reported at start.
func (r *RuntimeAPI) InitErrors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.initErr...)
}

// Invoke queues payload and waits for the function's answer.
func (r *RuntimeAPI) Invoke(ctx context.Context, payload []byte) (Result, error) {
	inv := &invocation{id: fmt.Sprintf("req-%06d", r.seq.Add(1)), payload: payload, done: make(chan Result, 1)}
	r.mu.Lock()
	r.byID[inv.id] = inv
	r.mu.Unlock()
	select {
	case r.pending <- inv:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case res := <-inv.done:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invocation %s: no answer: %w", inv.id, ctx.Err())
	}
}

const prefix = "/2018-06-01/runtime/"

func (r *RuntimeAPI) serve(w http.ResponseWriter, req *http.Request) {
	path := strings.TrimPrefix(req.URL.Path, prefix)
	switch {
	case req.Method == http.MethodGet && path == "invocation/next":
		r.once.Do(func() { close(r.polled) })
		select {
		case inv := <-r.pending:
			timeout := r.Timeout
			if timeout <= 0 {
				timeout = 30 * time.Second
			}
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(timeout).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", r.FunctionARN)
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			h.Set("Content-Type", "application/json")
			w.Write(inv.payload)
		case <-req.Context().Done():
		}
	case req.Method == http.MethodPost && path == "init/error":
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.initErr = append(r.initErr, string(b))
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case req.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		rest := strings.TrimPrefix(path, "invocation/")
		id, kind, ok := strings.Cut(rest, "/")
		r.mu.Lock()
		inv := r.byID[id]
		delete(r.byID, id)
		r.mu.Unlock()
		if !ok || inv == nil || (kind != "response" && kind != "error") {
			http.Error(w, `{"errorMessage":"unknown invocation"}`, http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(req.Body)
		inv.done <- Result{Payload: b, Error: kind == "error"}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// ErrNoAnswer is returned when a function process exits before answering.
var ErrNoAnswer = errors.New("function exited without answering")
