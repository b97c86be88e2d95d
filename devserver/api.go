package devserver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/api"
	"github.com/cloudmarket/termination-orders/app"
)

// TokensFile holds, in the data directory, the dev command's API key of each
// role, as shell variables (source it to use them with curl). It is made on
// first use when no API keys or OIDC provider are configured.
const TokensFile = "api-tokens.env"

// devAPI is the HTTP API running beside the dev worker.
type devAPI struct {
	url    string
	tokens string // the tokens file, or "" when keys are configured
	stop   func() error
}

// startAPI serves the HTTP API on api.listen_address until stop is called.
func startAPI(ctx context.Context, a app.App, logger *zap.Logger) (*devAPI, error) {
	if err := checkFree(a.Config.API.ListenAddress, "HTTP API", "--api-address"); err != nil {
		return nil, err
	}
	d := &devAPI{}
	if len(a.API.Keys) == 0 && a.API.OIDC.Issuer == "" {
		d.tokens = filepath.Join(a.Config.Dev.DataDir, TokensFile)
		keys, err := devKeys(d.tokens)
		if err != nil {
			return nil, err
		}
		a.API.Keys = keys
	}
	apiCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	listening := make(chan string, 1)
	go func() {
		done <- a.RunAPI(apiCtx, logger.Named("api"), func(addr string) { listening <- addr }, app.CodecWithoutToken())
	}()
	select {
	case addr := <-listening:
		d.url = "http://" + addr
	case err := <-done:
		cancel()
		return nil, err
	}
	d.stop = func() error {
		cancel()
		return <-done
	}
	return d, nil
}

// devKeys reads the dev tokens file, making it with a new key per role first
// if it does not exist, and returns the keys' entries.
func devKeys(path string) ([]api.Key, error) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		var b strings.Builder
		b.WriteString("# API keys of the dev command, one per role: source this file, then\n# curl -H \"Authorization: Bearer $BACKEND_TOKEN\" ...\n")
		for _, role := range api.Roles {
			key, _, err := api.NewKey("dev-"+string(role), role)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "%s_TOKEN=%s\n", strings.ToUpper(string(role)), key)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return nil, fmt.Errorf("write dev API keys: %w", err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read dev API keys: %w", err)
	}
	defer f.Close()
	var keys []api.Key
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		name, key, ok := strings.Cut(strings.TrimSpace(scan.Text()), "_TOKEN=")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		role := strings.ToLower(name)
		k, err := api.ParseKey("dev-" + role + ":" + role + ":" + api.HashKey(key))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, scan.Err()
}
