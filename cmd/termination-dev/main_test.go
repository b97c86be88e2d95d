package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/internal/ports"
	"github.com/cloudmarket/termination-orders/logging"
	"github.com/cloudmarket/termination-orders/worker"
)

// The dev command as a person runs it, with an encryption key: it says where
// everything is, its Web UI decodes through the API's codec endpoint, and
// Ctrl-C stops it cleanly.
func TestDevCommandStartsAndStopsOnCtrlC(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "termination-dev")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, uiPort, apiPort := ports.FreeForTest(t), ports.FreeForTest(t), ports.FreeForTest(t)
	dataDir := t.TempDir()
	cmd := exec.Command(bin, "--data-dir", dataDir, "--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(uiPort),
		"--api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		"--store-dsn", "sqlite:"+filepath.Join(t.TempDir(), "status.db"), "--reopen-window", "2m", "--metrics-address=")
	// A test key (32 bytes, base64), given as a person would: in the environment.
	cmd.Env = append(os.Environ(), "TERMINATION_CODEC_KEYS=dev-test:"+base64.StdEncoding.EncodeToString([]byte("dev-command-test-key-32-bytes!!!")))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	var banner []string
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(strings.Join(banner, "\n"), "Stop: Ctrl-C") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before it was up: %v", banner)
			}
			banner = append(banner, l)
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("not up after 2 minutes: %v", banner)
		}
	}
	text := strings.Join(banner, "\n")
	for _, want := range []string{
		"Temporal gRPC   127.0.0.1:" + strconv.Itoa(port),
		"Web UI          http://127.0.0.1:" + strconv.Itoa(uiPort),
		"reopen window 2m0s",
		"HTTP API        http://127.0.0.1:" + strconv.Itoa(apiPort) + "/v1",
		"tokens of each role in " + filepath.Join(dataDir, "api-tokens.env"),
		"Encryption      on: AES-256-GCM, new payloads under key dev-test",
		"codec endpoint http://127.0.0.1:" + strconv.Itoa(apiPort) + "/codec",
		`temporal --codec-endpoint http://127.0.0.1:` + strconv.Itoa(apiPort) + `/codec --codec-auth "Bearer $READER_TOKEN"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	// Its worker's build is the current version of its worker deployment.
	if build := regexp.MustCompile(`build (\S+), current in worker deployment termination-orders`).FindStringSubmatch(text); build == nil {
		t.Errorf("banner names no current build:\n%s", text)
	} else {
		c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: logging.ForTemporal(zap.NewNop())})
		if err != nil {
			t.Fatal(err)
		}
		current, err := worker.Deployment{Name: "termination-orders", BuildID: build[1]}.IsCurrent(context.Background(), c)
		c.Close()
		if err != nil || !current {
			t.Errorf("build %s current: %v (%v)", build[1], current, err)
		}
	}
	if strings.Contains(text, "dev-command-test-key") || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte("dev-command-test-key-32-bytes!!!"))) {
		t.Error("the banner shows the key")
	}

	// The Web UI is told to decode through the codec endpoint...
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(uiPort) + "/api/v1/settings")
	if err != nil {
		t.Fatal(err)
	}
	var settings struct{ Codec struct{ Endpoint string } }
	err = json.NewDecoder(resp.Body).Decode(&settings)
	resp.Body.Close()
	if err != nil || settings.Codec.Endpoint != "http://127.0.0.1:"+strconv.Itoa(apiPort)+"/codec" {
		t.Errorf("the Web UI's codec endpoint is %q (%v)", settings.Codec.Endpoint, err)
	}
	// ...which answers its browser (no login, so no token) from its origin.
	req, _ := http.NewRequest(http.MethodPost, settings.Codec.Endpoint+"/decode",
		strings.NewReader(`{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"InBsYWluIg=="}]}`))
	req.Header.Set("Origin", "http://localhost:"+strconv.Itoa(uiPort))
	req.Header.Set("X-Namespace", "default")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:"+strconv.Itoa(uiPort) {
		t.Errorf("decode from the dev UI: %d, allowed origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after Ctrl-C: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(strings.Join(rest, "\n"), "Stopped.") {
		t.Errorf("no clean stop reported: %v", rest)
	}
	// Everything it listened on is free again.
	for _, p := range []int{port, uiPort, apiPort} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d still held after stop: %v", p, err)
			continue
		}
		l.Close()
	}
}
