package cli

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dispatcher-dev/dispatcher/lambda"
	"github.com/dispatcher-dev/dispatcher/pkg/app"
	"github.com/dispatcher-dev/dispatcher/pkg/awsinfra"
	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

func newLambdaCmd(s Streams, info BuildInfo) *cobra.Command {
	return &cobra.Command{
		Use:       "lambda [STAGE]",
		Short:     "Run an AWS Lambda stage: ingress, planner, dispatcher, facts or admin",
		ValidArgs: settings.Stages(),
		Long: `lambda runs one stage of the AWS runtime inside AWS Lambda (provided.al2023):
it reads events from the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) until
the function's environment is shut down.

  ingress     API Gateway HTTP API → webhook checks → requests queue (SQS)
  planner     requests queue → plan → targets queue
  dispatcher  targets queue → claim → workflow_dispatch → completion
  facts       facts queue (EventBridge rule) → DynamoDB events and projections
  admin       API Gateway HTTP API → /health, /version and the admin API

STAGE defaults to DISPATCHER_STAGE. Run as "bootstrap" (the Lambda handler
name) with no arguments, the binary behaves as "dispatcher lambda". The AWS
SDK's configuration applies, including AWS_ENDPOINT_URL and
AWS_ENDPOINT_URL_<SERVICE> for emulators. See docs/aws-runtime.md.`,
		Example: `  # in the function's environment (Terraform sets these)
  DISPATCHER_STAGE=planner ./bootstrap

  # explicitly
  dispatcher lambda dispatcher`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := settings.Load(s.Getenv)
			if err != nil {
				return &UsageError{Err: err}
			}
			stage := st.Stage
			if len(args) == 1 {
				stage = args[0]
			}
			if stage == "" {
				return usageErrorf("lambda: name a stage (%s) as the argument or in DISPATCHER_STAGE", strings.Join(settings.Stages(), ", "))
			}
			if !slices.Contains(settings.Stages(), stage) {
				return usageErrorf("lambda: unknown stage %q (want %s)", stage, strings.Join(settings.Stages(), ", "))
			}
			if s.Env("AWS_LAMBDA_RUNTIME_API") == "" {
				return usageErrorf("lambda: AWS_LAMBDA_RUNTIME_API is not set: this command runs inside AWS Lambda (or an emulator of its Runtime API)")
			}
			logger := slog.New(slog.NewJSONHandler(s.Err, &slog.HandlerOptions{Level: st.SlogLevel()})).With("stage", stage)
			ctx := cmd.Context()
			cfg, err := awsinfra.LoadConfig(ctx)
			if err != nil {
				return err
			}
			a, err := app.NewAWS(ctx, st, stage, app.BuildInfo(info), logger, app.AWSOptions{Config: cfg})
			if err != nil {
				return err
			}
			defer a.Close()
			logger.Info("lambda stage ready", "version", info.Version)
			return lambda.Start(ctx, a)
		},
	}
}
