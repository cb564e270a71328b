package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra/awstest"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

func awsSettings(t *testing.T, env map[string]string) *settings.Settings {
	t.Helper()
	st, err := settings.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestNewAWSConfigErrors: a stage that lacks a variable, or an unknown
// stage, is a *ConfigError naming what to set, before any AWS call.
func TestNewAWSConfigErrors(t *testing.T) {
	cfg := awstest.Config("http://127.0.0.1:9") // never reached
	for _, tc := range []struct {
		stage string
		env   map[string]string
		want  string
	}{
		{"bogus", nil, `unknown stage "bogus"`},
		{"ingress", nil, "GITHUB_WEBHOOK_SECRET (or GITHUB_WEBHOOK_SECRET_ARN)"},
		{"facts", nil, "DISPATCH_EVENTS_TABLE_NAME"},
		{"planner", map[string]string{"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_ARN": "arn:aws:secretsmanager:us-east-1:0:secret:k", "DISPATCH_TARGETS_QUEUE_URL": "http://q/1/t",
			"DISPATCH_FACTS_EVENT_BUS_NAME": "b"}, "DISPATCH_STATE_TABLE_NAME"},
	} {
		_, err := app.NewAWS(context.Background(), awsSettings(t, tc.env), tc.stage, app.BuildInfo{}, nil, app.AWSOptions{Config: cfg})
		var ce *app.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a ConfigError naming %s", tc.stage, err, tc.want)
		}
	}
}

// TestNewAWSStages: each stage gets the handler its function serves.
func TestNewAWSStages(t *testing.T) {
	cfg := awstest.Config("http://127.0.0.1:9")
	env := map[string]string{
		"GITHUB_WEBHOOK_SECRET": "s", "DISPATCH_REQUESTS_QUEUE_URL": "http://q/1/r", "DISPATCH_FACTS_EVENT_BUS_NAME": "b",
		"DISPATCH_STATE_TABLE_NAME": "st", "DISPATCH_EVENTS_TABLE_NAME": "ev", "DISPATCH_PROJECTIONS_TABLE_NAME": "pr",
	}
	for stage, http := range map[string]bool{"ingress": true, "admin": true, "facts": false} {
		a, err := app.NewAWS(context.Background(), awsSettings(t, env), stage, app.BuildInfo{}, nil, app.AWSOptions{Config: cfg})
		if err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
		if (a.HTTP != nil) != http || (a.Batch != nil) == http {
			t.Errorf("%s: HTTP %v, batch %v", stage, a.HTTP != nil, a.Batch != nil)
		}
		a.Close()
	}
}
