// Package command is what every command's main shares, on cobra: the exit
// status an error ends the command with, and the command of a long-running
// process (termination-worker, termination-dev, termination-api): the flags
// of its settings, --health-check, its logger, and running until SIGINT or
// SIGTERM. Mains build their commands with it and pass Execute's status to
// os.Exit; nothing else ends the process.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command failed, or --health-check found it not ready
	ExitUsage   = 2 // bad flags or settings: nothing was run
)

// ExitError ends the command with Code. Without Err, the failure has been
// reported already (logged), and Execute prints nothing.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap is the failure.
func (e *ExitError) Unwrap() error { return e.Err }

// Usage is bad input: the command ends with ExitUsage.
func Usage(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Execute runs cmd with args and returns the exit status for main: 0 on
// success, an ExitError's code, else ExitFailure. A failure is printed on
// cmd's error output, after the name of the command that failed.
func Execute(ctx context.Context, cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	// Flag and argument errors are the caller's: ExitUsage. Subcommands
	// inherit the root's flag error function.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return Usage(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	ran, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var exit *ExitError
	if !errors.As(err, &exit) {
		exit = &ExitError{Code: ExitFailure, Err: err}
	}
	if exit.Err != nil {
		if ran == nil {
			ran = cmd
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", ran.CommandPath(), err)
	}
	return exit.Code
}

// NoArgs refuses positional arguments as bad input, naming an unknown
// subcommand as such.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return Usage(fmt.Errorf("unknown command %q (see %s --help)", args[0], cmd.CommandPath()))
	}
	return Usage(fmt.Errorf("takes no arguments, got %q", args))
}

// Options of a long-running command.
type Options struct {
	// Name is the command's name; Short and Long its help.
	Name, Short, Long string
	// Of says which settings the command has flags for and reads.
	Of config.Command
	// ConsoleLogs makes human-readable logs the default, for a person watching.
	ConsoleLogs bool
	// HealthCheck, when set, gives the command a --health-check flag: instead
	// of running, it asks once whether the running command is ready, prints
	// the one-line answer, and exits 0 if ready and 1 if not, as a container
	// health check expects.
	HealthCheck func(ctx context.Context, a app.App) (string, error)
	// Run is the process: it runs until ctx is cancelled (SIGINT or
	// SIGTERM) or it fails.
	Run func(ctx context.Context, a app.App, logger *zap.Logger) error
}

// New is the command of a long-running process. It loads and checks the
// settings (bad ones end it with ExitUsage and the reason), builds the
// logger, and runs opts.Run until it returns or the process is asked to stop;
// a failure is logged and ends it with ExitFailure.
func New(opts Options) *cobra.Command {
	var healthCheck bool
	cmd := &cobra.Command{
		Use:   opts.Name,
		Short: opts.Short,
		Long:  opts.Long,
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := app.Load(cmd.Flags(), opts.Of)
			if healthCheck {
				return checkHealth(cmd.Context(), cmd.OutOrStdout(), opts, a, err)
			}
			if err != nil {
				return Usage(err)
			}
			if opts.ConsoleLogs && !cmd.Flags().Changed("log-format") && os.Getenv(config.EnvVar("log.format")) == "" {
				a.Config.Log.Format = "console"
			}
			logger, err := a.Logger()
			if err != nil {
				return Usage(err)
			}
			return run(cmd.Context(), opts, a, logger)
		},
	}
	app.RegisterFlags(cmd.Flags(), opts.Of)
	if opts.HealthCheck != nil {
		cmd.Flags().BoolVar(&healthCheck, "health-check", false, "check whether the running "+opts.Name+" is ready (its /readyz), print why, exit 0 if ready, 1 if not")
	}
	return cmd
}

func run(ctx context.Context, opts Options, a app.App, logger *zap.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	err := opts.Run(ctx, a, logger)
	stop()
	if err != nil {
		logger.Error(opts.Name+" failed", zap.Error(err))
	}
	_ = logger.Sync() // nothing to do if stderr is gone
	if err != nil {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

// checkHealth is the --health-check mode: one line out, 0 ready, 1 not.
// Bad settings are "not ready" too: a container engine reserves status 2.
func checkHealth(ctx context.Context, out io.Writer, opts Options, a app.App, loadErr error) error {
	if loadErr != nil {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("not ready: %w", loadErr)}
	}
	line, err := opts.HealthCheck(ctx, a)
	if err != nil {
		return &ExitError{Code: ExitFailure, Err: err}
	}
	fmt.Fprintln(out, line)
	return nil
}
