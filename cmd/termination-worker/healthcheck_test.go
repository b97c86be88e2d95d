package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmarket/termination-orders/health"
)

// storeAnswer is a store whose ping returns err.
type storeAnswer struct{ err error }

func (s storeAnswer) Ping(context.Context) error { return s.err }

// The image has no curl: `termination-worker --health-check` reads the
// running worker's /readyz (a listener on 0.0.0.0 reached on 127.0.0.1),
// prints one line, and exits 0 when ready and 1 otherwise.
func TestHealthCheckMode(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "termination-worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	var readiness health.Readiness
	srv := &http.Server{Handler: readiness.Handler()}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	defer srv.Close()

	// check runs the health check with environment variables and flags (--...).
	check := func(env ...string) (code int, stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(bin, "--health-check")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TEMPORAL_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none.toml")}
		for _, e := range env {
			if strings.HasPrefix(e, "--") {
				cmd.Args = append(cmd.Args, e)
			} else {
				cmd.Env = append(cmd.Env, e)
			}
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{out.String(), errOut.String()} {
			if strings.Count(s, "\n") > 1 {
				t.Errorf("more than one line: %q", s)
			}
		}
		return code, out.String(), errOut.String()
	}
	addr := "TERMINATION_METRICS_LISTEN_ADDRESS=0.0.0.0:" + port

	code, _, stderr := check(addr)
	if code != 1 || !strings.Contains(stderr, "termination-worker: not ready: store NOT READY (not open yet); worker NOT READY (starting: not polling yet)") {
		t.Fatalf("starting: exit %d, %q", code, stderr)
	}

	readiness.StoreOpened("postgres status store", storeAnswer{})
	readiness.Polling("termination-orders")
	code, stdout, _ := check(addr)
	if code != 0 || !strings.HasPrefix(stdout, "ready: store ok (postgres status store answered in ") {
		t.Fatalf("ready: exit %d, %q", code, stdout)
	}

	readiness.StoreOpened("postgres status store", storeAnswer{errors.New("ping postgres status store: connection refused")})
	code, _, stderr = check(addr)
	if code != 1 || !strings.Contains(stderr, "not ready: store NOT READY (ping postgres status store: connection refused)") {
		t.Fatalf("store down: exit %d, %q", code, stderr)
	}

	srv.Close()
	code, _, stderr = check(addr)
	if code != 1 || !strings.Contains(stderr, "no answer from http://127.0.0.1:"+port+"/readyz") {
		t.Fatalf("nothing listening: exit %d, %q", code, stderr)
	}

	// Bad settings are "not ready" (1), not Docker's reserved 2.
	code, _, stderr = check(addr, "TERMINATION_LOG_LEVEL=loud")
	if code != 1 || !strings.Contains(stderr, "log.level") {
		t.Fatalf("bad settings: exit %d, %q", code, stderr)
	}
	code, _, stderr = check("--metrics-address=")
	if code != 1 || !strings.Contains(stderr, "metrics.listen_address is empty") {
		t.Fatalf("no listener configured: exit %d, %q", code, stderr)
	}
}
