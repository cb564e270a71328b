// Package awstest starts the AWS emulators the runtime is tested against
// and builds SDK configurations for them: kumo (github.com/sivchari/kumo,
// in-process) for SQS, EventBridge and Secrets Manager, and DynamoDB Local
// (AWS's own emulator, a Java jar shipped in the npm package
// amplify-dynamodb-simulator that `make test` installs under
// .ci/node_modules) for conditional writes and transactions.
//
// It is used by tests and by examples/aws, never by the dispatcher binary.
package awstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sivchari/kumo"
)

// Region of every emulator configuration.
const Region = "us-east-1"

// KumoAddr is where kumo must listen for EventBridge to deliver to SQS: its
// rule targets call http://localhost:4566 whatever port it serves on.
const KumoAddr = "127.0.0.1:4566"

// Config returns an SDK configuration with static credentials for an
// emulator at endpoint (the service endpoints are set per client with
// BaseEndpoint, or for every client here).
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 3,
	}
}

// Kumo is an in-process kumo server.
type Kumo struct {
	// URL is the endpoint to give the SDK clients.
	URL string

	srv   *kumo.Server
	proxy *http.Server
}

// StartKumo starts kumo in-process on a free port.
func StartKumo() *Kumo {
	s := kumo.NewServer()
	return &Kumo{URL: s.URL, srv: s}
}

// StartKumoAt starts kumo in-process and serves it at addr too (KumoAddr
// for EventBridge → SQS delivery) through a reverse proxy; URL is then
// http://addr. It fails when addr is in use.
func StartKumoAt(addr string) (*Kumo, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kumo: listen on %s (EventBridge delivers to SQS only there; is another emulator running?): %w", addr, err)
	}
	s := kumo.NewServer()
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // requests cut off at shutdown
	p := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go p.Serve(ln)
	return &Kumo{URL: "http://" + ln.Addr().String(), srv: s, proxy: p}, nil
}

// Close stops the server.
func (k *Kumo) Close() {
	if k.proxy != nil {
		k.proxy.Close()
	}
	k.srv.Close()
}

// DynamoDBLocal is a running DynamoDB Local process.
type DynamoDBLocal struct {
	// URL is the endpoint to give the SDK clients.
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// DynamoDBLocalDir returns the folder of DynamoDBLocal.jar under the
// repository's .ci/node_modules, found by walking up from the working
// directory to go.mod.
func DynamoDBLocalDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "node_modules", "amplify-dynamodb-simulator", "emulator"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// ErrMissing wraps a missing prerequisite; its message says how to
// install it.
var ErrMissing = errors.New("missing test prerequisite")

// StartDynamoDBLocal starts DynamoDB Local (in memory) on a free port of
// 127.0.0.1 from the jar in dir and waits until it accepts connections (at
// most a minute). A missing java or jar is an ErrMissing whose message
// says how to install it.
func StartDynamoDBLocal(ctx context.Context, dir string) (*DynamoDBLocal, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("%w: java (17+) is not installed: apt-get install openjdk-17-jre-headless (.ci/run does it)", ErrMissing)
	}
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		return nil, fmt.Errorf("%w: DynamoDB Local is not installed at %s: run `make test` or `npm ci --prefix .ci` (npm package amplify-dynamodb-simulator)", ErrMissing, dir)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(java, "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
		"-inMemory", "-port", strconv.Itoa(port), "-disableTelemetry")
	cmd.Dir = dir
	dieWithParent(cmd)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	d := &DynamoDBLocal{URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("DynamoDB Local exited: %s", out.String())
		case <-deadline.C:
			d.Close()
			return nil, errors.New("DynamoDB Local did not accept connections within a minute")
		case <-ctx.Done():
			d.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the process and waits for it.
func (d *DynamoDBLocal) Close() {
	d.once.Do(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
}
