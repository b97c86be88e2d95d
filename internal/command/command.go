// Package command is what the long-running commands (termination-worker,
// termination-dev) share: flags, settings and logger, and running until
// SIGINT or SIGTERM. Their mains only name what they run.
package command

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/logging"
)

// Options of a command.
type Options struct {
	Name string
	Of   config.Command
	// ConsoleLogs makes human-readable logs the default, for a person watching.
	ConsoleLogs bool
	// HealthCheck, when set, gives the command a --health-check flag: instead
	// of running, it asks once whether the running command is ready, prints
	// the one-line answer, and exits 0 if ready and 1 if not, as a container
	// health check expects.
	HealthCheck func(ctx context.Context, cfg config.Config) (string, error)
}

// Run parses the flags, loads and checks the settings, builds the logger, and
// calls run until it returns or the process is asked to stop. Bad flags or
// settings exit with status 2 and the reason; a failure of run with status 1.
func Run(opts Options, run func(ctx context.Context, cfg config.Config, logger *zap.Logger) error) {
	fs := pflag.NewFlagSet(opts.Name, pflag.ExitOnError)
	config.RegisterFlags(fs, opts.Of)
	var healthCheck bool
	if opts.HealthCheck != nil {
		fs.BoolVar(&healthCheck, "health-check", false, "check whether the running worker is ready (its /readyz on metrics.listen_address), print why, exit 0 if ready, 1 if not")
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError: Parse exits on a bad flag
	cfg, err := config.Load(fs, opts.Of)
	if healthCheck {
		os.Exit(checkHealth(opts, cfg, err))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", opts.Name, err)
		os.Exit(2)
	}
	if opts.ConsoleLogs && !fs.Changed("log-format") && os.Getenv(config.EnvVar("log.format")) == "" {
		cfg.Log.Format = "console"
	}
	logger, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", opts.Name, err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()
	err = run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Error(opts.Name+" failed", zap.Error(err))
	}
	_ = logger.Sync() // nothing to do if stderr is gone
	if err != nil {
		os.Exit(1)
	}
}

// checkHealth is the --health-check mode: one line out, 0 ready, 1 not.
// Bad settings are "not ready" too: a container engine reserves status 2.
func checkHealth(opts Options, cfg config.Config, loadErr error) int {
	if loadErr != nil {
		fmt.Fprintf(os.Stderr, "%s: not ready: %v\n", opts.Name, loadErr)
		return 1
	}
	line, err := opts.HealthCheck(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", opts.Name, err)
		return 1
	}
	fmt.Println(line)
	return 0
}
