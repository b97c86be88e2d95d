package devserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/worker"
)

// Run is the dev command: the Temporal server with its Web UI, and the worker
// with its status store, in this one process until ctx is cancelled (Ctrl-C).
// It tells out where everything is.
func Run(ctx context.Context, a app.App, logger *zap.Logger, out io.Writer) error {
	cfg := a.Config
	if cfg.MetricsAddress != "" {
		// Found busy now rather than once the server is up.
		if err := checkFree(cfg.MetricsAddress, "metrics", "--metrics-address"); err != nil {
			return err
		}
	}
	if err := prepareDataDir(cfg.Dev.DataDir, logger); err != nil {
		return err
	}
	srv, err := Start(ctx, Options{
		DataDir:       cfg.Dev.DataDir,
		IP:            cfg.Dev.IP,
		Port:          cfg.Dev.Port,
		UIPort:        cfg.Dev.UIPort,
		Namespace:     cfg.Temporal.Namespace,
		CodecEndpoint: codecEndpoint(a),
		OnePartition:  []string{cfg.AWS.CloseTaskQueue},
		// The server's own lines only when something is wrong.
		Logger: logger.WithOptions(zap.IncreaseLevel(zap.WarnLevel)),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C while starting
		}
		return err
	}
	defer srv.Stop()

	var awsEmulator *AWSEmulator
	if cfg.Dev.AWSEmulator {
		if awsEmulator, err = StartAWSEmulator(cfg.Dev.IP, cfg.Dev.AWSEmulatorClosureDelay); err != nil {
			return err
		}
		defer awsEmulator.Close(context.WithoutCancel(ctx)) //nolint:errcheck // stopping anyway
		cfg.AWS.Endpoint = awsEmulator.URL()
		a.AWSOptions = append(a.AWSOptions, awsEmulator.AdapterOptions()...)
		logger.Info("AWS Organizations emulator started", zap.String("endpoint", awsEmulator.URL()),
			zap.String("organization", emulator.SeedOrganizationID), zap.String("managementAccount", emulator.SeedManagementAccountID),
			zap.Strings("memberAccounts", emulator.SeedMemberAccountIDs), zap.Duration("closureDelay", cfg.Dev.AWSEmulatorClosureDelay))
	}

	cfg.Temporal = cfg.Temporal.Local(srv.Address())
	// The worker runs versioned, as production does, and as the only worker
	// of its server it makes its build current itself.
	buildID, err := devBuildID()
	if err != nil {
		return err
	}
	cfg.Deployment = config.WorkerDeployment{Versioning: true, Name: config.DefaultDeploymentName, BuildID: buildID, MakeCurrent: true}
	a.Config = cfg
	httpAPI, err := startAPI(ctx, a, logger)
	if err != nil {
		return err
	}
	defer httpAPI.stop() //nolint:errcheck // stopping anyway; it logs its own failures
	banner := func() {
		fmt.Fprintf(out, `
Termination orders dev system is up.

  Temporal gRPC   %s   (namespace %s; state in %s)
  Web UI          %s
  Worker          task queue %s, reopen window %s
                  build %s, current in worker deployment %s
  Status store    %s
  Metrics         %s
  Notifications   %s
  HTTP API        %s/v1   (OpenAPI at /v1/openapi.json%s)
  Encryption      %s
  AWS             %s

Try: go run ./cmd/terminationctl --help      Stop: Ctrl-C

`, srv.Address(), cfg.Temporal.Namespace, filepath.Join(cfg.Dev.DataDir, DatabaseFile), uiLine(srv),
			cfg.Temporal.TaskQueue, cfg.ReopenWindow, cfg.Deployment.BuildID, cfg.Deployment.Name, redacted(cfg.StoreDSN), metricsLine(cfg.MetricsAddress),
			notificationsLine(cfg.Notify), httpAPI.url, tokensLine(httpAPI.tokens), encryptionLine(a, httpAPI.url),
			awsLine(cfg.AWS, awsEmulator))
	}
	// The namespace got the search attributes when it was created; a data
	// directory from an older version may lack some, so make sure.
	if a.Config.Notify.WebUIURL == "" {
		a.Config.Notify.WebUIURL = srv.UIURL()
	}
	if err := a.RunWorker(ctx, logger, app.EnsureSearchAttributes(), app.OnStarted(banner), app.LogNotifications()); err != nil {
		return err
	}
	fmt.Fprintln(out, "Stopped. Orders and their timers are kept in", cfg.Dev.DataDir)
	return nil
}

// notificationsLine says where notifications go; audiences without targets
// are logged.
func notificationsLine(n config.Notify) string {
	line := fmt.Sprintf("unlink SLA %s, last warning %s before the deadline; ", n.UnlinkSLA, n.LastWarning)
	if a := n.Audiences(); len(a) > 0 {
		return line + "sent to " + strings.Join(a, ", ") + "; escalations without targets go to operations', the rest is logged"
	}
	return line + "no targets configured: logged"
}

// redacted hides a password in a DSN: the banner is printed for anyone to read.
func redacted(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

func metricsLine(addr string) string {
	if addr == "" {
		return "(off)"
	}
	return "http://" + addr + "/metrics"
}

func uiLine(srv *Server) string {
	if srv.UIURL() == "" {
		return "(not running)"
	}
	return srv.UIURL()
}

// codecEndpoint is the codec endpoint the Web UI decodes with: the dev API's,
// when there are keys to decode with.
func codecEndpoint(a app.App) string {
	if len(a.Codec.Ring().IDs()) == 0 {
		return ""
	}
	host, port, err := net.SplitHostPort(a.Config.API.ListenAddress)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + api.CodecPath
}

func encryptionLine(a app.App, apiURL string) string {
	line := app.EncryptionLine(a.Codec)
	if codecEndpoint(a) != "" {
		line += "\n                  codec endpoint " + apiURL + api.CodecPath + " (the Web UI decodes with it; CLI: temporal --codec-endpoint " + apiURL + api.CodecPath + " --codec-auth \"Bearer $READER_TOKEN\")"
	}
	return line
}

func tokensLine(file string) string {
	if file == "" {
		return ""
	}
	return "; tokens of each role in " + file
}

// devBuildID is the dev worker's build ID: the binary's git revision, else
// (go run stamps none, and a work tree being edited has none) "dev-" and a
// hash of the executable, so that every change of code is a new build.
func devBuildID() (string, error) {
	if id, err := worker.RevisionBuildID(); err == nil {
		return id, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("dev worker build ID: %w", err)
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("dev worker build ID: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("dev worker build ID: read %s: %w", exe, err)
	}
	return "dev-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}
