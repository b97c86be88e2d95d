// Package app is the composition root: it turns settings (package config)
// into the clients, stores, notifiers and loggers the commands run, and runs
// the worker and API processes with them. Every command builds its parts
// here, so each setting is turned into a thing in one place.
//
// Package config only reads settings and imports nothing of the project;
// what the project's own packages rule on (the store's DSN, the reopen
// window's bounds, the payload keys, the API's roles, the notification
// targets, the worker's build ID) New checks, naming the setting as config
// does.
package app

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/notify"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// defaults are the defaults of settings that other packages own.
var defaults = config.Defaults{TaskQueue: workflows.DefaultTaskQueue}

// RegisterFlags adds the flags of the command's settings to fs.
func RegisterFlags(fs *pflag.FlagSet, cmd config.Command) {
	config.RegisterFlags(fs, cmd, defaults)
}

// Load reads the command's settings from every source (fs must have been
// through RegisterFlags for the same command, and be parsed), and builds the
// App they describe.
func Load(fs *pflag.FlagSet, cmd config.Command) (App, error) {
	cfg, err := config.Load(fs, cmd, defaults)
	if err != nil {
		return App{}, err
	}
	return New(cfg)
}

// App is a command's settings with what every one of its processes shares,
// built from them. A command may change it before running (the dev command
// points it at its own server).
type App struct {
	Config config.Config
	// Codec encrypts and decrypts payloads (codec.* settings). Never nil.
	Codec *codec.Codec
	// API is how the HTTP API answers (api.* settings), for the commands
	// that serve it.
	API api.Config
	// AWSOptions shape the AWS Organizations adapter beyond its settings
	// (the dev command's emulator gives its fake keys).
	AWSOptions []awsorg.Option
}

// New checks cfg against the rules of the project's packages and builds the
// App. Every broken rule is reported at once, each naming its setting.
func New(cfg config.Config) (App, error) {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &config.KeyError{Key: key, Err: err}) }
	uses := cfg.Command.Uses

	if err := store.CheckDSN(cfg.StoreDSN); err != nil {
		bad("store.dsn", err)
	}
	if uses("order.reopen_window") && (cfg.ReopenWindow < order.MinReopenWindow || cfg.ReopenWindow > order.MaxReopenWindow) {
		bad("order.reopen_window", fmt.Errorf("must be whole seconds between %s and %s, got %s", order.MinReopenWindow, order.MaxReopenWindow, cfg.ReopenWindow))
	}
	if uses("aws.organizations.mode") && cfg.AWS.Mode != config.AWSModeOff && cfg.ReopenWindow > order.AWSPostClosurePeriod {
		bad("order.reopen_window", fmt.Errorf("must be at most %s with aws.organizations.mode %s: AWS can reopen a closed account only within %s, got %s",
			order.AWSPostClosurePeriod, cfg.AWS.Mode, order.AWSPostClosurePeriod, cfg.ReopenWindow))
	}
	a := App{Config: cfg}
	if d := &a.Config.Deployment; uses("worker.versioning") && d.Versioning && d.BuildID == "" {
		id, err := worker.RevisionBuildID()
		if err != nil {
			bad("worker.build_id", fmt.Errorf("not set, and %w; set it to the build's ID", err))
		}
		d.BuildID = id
	}
	var err error
	if a.Codec, err = newCodec(cfg.Codec); err != nil {
		errs = append(errs, err)
	}
	if uses("notify.reminder_interval") {
		// The targets check themselves; their errors name their keys.
		if _, err := notify.New(notifyConfig(cfg.Notify), zap.NewNop()); err != nil {
			bad("notify", err)
		}
	}
	if uses("api.listen_address") {
		if a.API, err = apiConfig(cfg.API); err != nil {
			errs = append(errs, err)
		}
	}
	if err := config.Invalid(errs...); err != nil {
		return App{}, err
	}
	return a, nil
}

// Logger is the logger the log.* settings describe.
func (a App) Logger() (*zap.Logger, error) {
	return logging.New(logging.Options{Level: a.Config.Log.Level, Format: a.Config.Log.Format})
}

// ClientOptions are the options for dialing Temporal with the app's
// connection settings and codec, logging through logger.
func (a App) ClientOptions(logger *zap.Logger) (client.Options, error) {
	return ClientOptions(a.Config.Temporal, a.Codec, logging.ForTemporal(logger))
}

// apiConfig reads the API's keys: package api owns their format and roles.
func apiConfig(s config.APIServer) (api.Config, error) {
	c := api.Config{
		OIDC:              api.OIDC{Issuer: s.OIDC.Issuer, Audience: s.OIDC.Audience, JWKSURL: s.OIDC.JWKSURL, RoleClaim: s.OIDC.RoleClaim},
		CORSOrigins:       s.CORSOrigins,
		MaxBodyBytes:      s.MaxBodyBytes,
		IdempotencyKeyTTL: s.IdempotencyKeyTTL,
		RequestTimeout:    s.RequestTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		ShutdownTimeout:   s.ShutdownTimeout,
	}
	var errs []error
	seen := map[string]bool{}
	for _, e := range s.Keys {
		k, err := api.ParseKey(e.Text)
		if err != nil {
			errs = append(errs, &config.KeyError{Key: e.Setting, Err: fmt.Errorf("%s: %w", e.Place, err)})
			continue
		}
		if seen[k.Name] {
			errs = append(errs, &config.KeyError{Key: "api.keys", Err: fmt.Errorf("key name %q is used twice (api.keys and api.keys_file together)", k.Name)})
		}
		seen[k.Name] = true
		c.Keys = append(c.Keys, k)
	}
	return c, errors.Join(errs...)
}
