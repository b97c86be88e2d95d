package command_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/internal/command"
)

// execute runs cmd in this process and returns its exit status and output.
func execute(cmd *cobra.Command, args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	code = command.Execute(context.Background(), cmd, args)
	return code, out.String(), errOut.String()
}

func isolate(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "absent.toml"))
	t.Setenv("TERMINATION_LOG_LEVEL", "")
}

// worker is a long-running command whose run and health check answer as told.
func worker(runErr error, ready string, notReady error) (*cobra.Command, *app.App) {
	var ran app.App
	return command.New(command.Options{
		Name: "test-worker", Of: config.Worker,
		HealthCheck: func(context.Context, app.App) (string, error) { return ready, notReady },
		Run: func(ctx context.Context, a app.App, _ *zap.Logger) error {
			ran = a
			return runErr
		},
	}), &ran
}

func TestRunGetsTheSettings(t *testing.T) {
	isolate(t)
	cmd, ran := worker(nil, "", nil)
	code, _, stderr := execute(cmd, "--task-queue", "q1", "--metrics-address=")
	require.Equal(t, command.ExitOK, code, stderr)
	assert.Equal(t, "q1", ran.Config.Temporal.TaskQueue)
	assert.NotNil(t, ran.Codec)
}

// A failing run is logged (by the command's logger), not printed again,
// and ends with 1.
func TestAFailedRunExitsOne(t *testing.T) {
	isolate(t)
	cmd, _ := worker(errors.New("store gone"), "", nil)
	code, _, stderr := execute(cmd, "--metrics-address=")
	assert.Equal(t, command.ExitFailure, code)
	assert.NotContains(t, stderr, "test-worker: store gone")
}

// Bad flags, arguments and settings run nothing and end with 2, saying why.
func TestBadInputExitsTwo(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud"}, "test-worker: invalid configuration: log.level (flag --log-level, env TERMINATION_LOG_LEVEL)"},
		{[]string{"--no-such-flag"}, "test-worker: unknown flag: --no-such-flag (see test-worker --help)"},
		{[]string{"stray"}, `test-worker: takes no arguments, got ["stray"]`},
		{[]string{"--reopen-window", "400d"}, "order.reopen_window"},
	} {
		cmd, ran := worker(nil, "", nil)
		code, _, stderr := execute(cmd, tc.args...)
		assert.Equal(t, command.ExitUsage, code, tc.args)
		assert.Contains(t, stderr, tc.want)
		assert.Nil(t, ran.Codec, "%v: ran", tc.args)
	}
}

// --health-check prints one line: 0 when ready, 1 when not, and bad settings
// are "not ready" too (a container engine reserves 2).
func TestHealthCheck(t *testing.T) {
	isolate(t)
	cmd, ran := worker(nil, "ready: all good", nil)
	code, stdout, _ := execute(cmd, "--health-check")
	assert.Equal(t, command.ExitOK, code)
	assert.Equal(t, "ready: all good\n", stdout)
	assert.Nil(t, ran.Codec, "the health check runs nothing")

	cmd, _ = worker(nil, "", errors.New("not ready: store NOT READY"))
	code, _, stderr := execute(cmd, "--health-check")
	assert.Equal(t, command.ExitFailure, code)
	assert.Equal(t, "test-worker: not ready: store NOT READY\n", stderr)

	cmd, _ = worker(nil, "ready", nil)
	code, _, stderr = execute(cmd, "--health-check", "--log-level", "loud")
	assert.Equal(t, command.ExitFailure, code)
	assert.Contains(t, stderr, "test-worker: not ready: invalid configuration: log.level")
}

func TestHelpExitsZero(t *testing.T) {
	cmd, _ := worker(nil, "", nil)
	code, stdout, _ := execute(cmd, "--help")
	assert.Equal(t, command.ExitOK, code)
	for _, flag := range []string{"--health-check", "--temporal-address", "--reopen-window", "--config"} {
		assert.Contains(t, stdout, flag)
	}
}

// An ExitError's code is the status; any other error is 1.
func TestExecuteMapsErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		out  string
	}{
		{&command.ExitError{Code: 3, Err: errors.New("rejected")}, 3, "x: rejected\n"},
		{&command.ExitError{Code: 4}, 4, ""},
		{command.Usage(errors.New("bad")), 2, "x: bad\n"},
		{errors.New("boom"), 1, "x: boom\n"},
	} {
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return tc.err }}
		code, _, stderr := execute(cmd)
		assert.Equal(t, tc.code, code, tc.err)
		assert.Equal(t, tc.out, stderr)
	}
}
