package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/health"
)

// pinger answers with err, after delay or when its context ends.
type pinger struct {
	delay time.Duration
	err   error
}

func (p pinger) Ping(ctx context.Context) error {
	select {
	case <-time.After(p.delay):
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func get(t *testing.T, srv *httptest.Server, path string) (int, health.Report) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s Content-Type = %q", path, ct)
	}
	var report health.Report
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		t.Fatalf("%s body: %v", path, err)
	}
	return resp.StatusCode, report
}

func TestReadinessFollowsTheWorker(t *testing.T) {
	r := &health.Readiness{PingTimeout: 200 * time.Millisecond}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	expect := func(step string, code int, workerReady, storeReady bool, workerDetail, storeDetail string) {
		t.Helper()
		got, report := get(t, srv, "/readyz")
		w, s := report.Checks["worker"], report.Checks["store"]
		if got != code || report.Ready != (code == http.StatusOK) || w.Ready != workerReady || s.Ready != storeReady ||
			!strings.Contains(w.Detail, workerDetail) || !strings.Contains(s.Detail, storeDetail) {
			t.Fatalf("%s: /readyz = %d %+v", step, got, report)
		}
	}
	expect("starting", 503, false, false, "starting: not polling yet", "not open yet")
	r.StoreOpened("postgres status store", pinger{})
	expect("store open", 503, false, true, "starting", "postgres status store answered in")
	r.Polling("termination-orders")
	expect("polling", 200, true, true, "polling task queue termination-orders", "answered")

	r.StoreOpened("postgres status store", pinger{delay: time.Minute})
	expect("store silent", 503, true, false, "polling", "postgres status store did not answer within 200ms")
	r.StoreOpened("postgres status store", pinger{err: errors.New("ping postgres status store: connection refused")})
	expect("store refusing", 503, true, false, "polling", "connection refused")
	r.StoreOpened("postgres status store", pinger{})

	r.Failed(errors.New("namespace orders not found"))
	expect("fatal", 503, false, true, "stopped polling on a fatal error: namespace orders not found", "answered")
	r.Stopping()
	expect("stopping after fatal", 503, false, true, "fatal error", "answered")

	// Alive throughout.
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
}

func TestStoppingIsNotReady(t *testing.T) {
	r := &health.Readiness{}
	r.StoreOpened("store", pinger{})
	r.Polling("q")
	r.Stopping()
	report := r.Check(context.Background())
	if report.Ready || report.Checks["worker"].Detail != "stopping: taking no new work" {
		t.Fatalf("report = %+v", report)
	}
}

func TestProbeURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:9464":   "http://127.0.0.1:9464/readyz",
		":9464":          "http://127.0.0.1:9464/readyz",
		"[::]:9464":      "http://[::1]:9464/readyz",
		"127.0.0.1:9464": "http://127.0.0.1:9464/readyz",
		"worker:9464":    "http://worker:9464/readyz",
	} {
		got, err := health.ProbeURL(addr)
		if err != nil || got != want {
			t.Errorf("ProbeURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := health.ProbeURL("9464"); err == nil {
		t.Error("ProbeURL(9464) accepted an address without a host part")
	}
}

func TestProbe(t *testing.T) {
	r := &health.Readiness{PingTimeout: 200 * time.Millisecond}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: r.Handler()}}
	srv.Start()
	defer srv.Close()
	addr := l.Addr().String() // 0.0.0.0:port or [::]:port: probed on the loopback

	_, err = health.Probe(context.Background(), addr)
	if err == nil || err.Error() != "not ready: store NOT READY (not open yet); worker NOT READY (starting: not polling yet)" {
		t.Fatalf("Probe while starting = %v", err)
	}
	r.StoreOpened("sqlite status store", pinger{})
	r.Polling("termination-orders")
	line, err := health.Probe(context.Background(), addr)
	if err != nil || !strings.HasPrefix(line, "ready: store ok (sqlite status store answered in ") || !strings.HasSuffix(line, "; worker ok (polling task queue termination-orders)") {
		t.Fatalf("Probe when ready = %q, %v", line, err)
	}
	if strings.Contains(line, "\n") {
		t.Fatalf("Probe answer is not one line: %q", line)
	}

	// Nothing listening: a clear no.
	srv.Close()
	if _, err := health.Probe(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "no answer from http://") {
		t.Fatalf("Probe with nothing listening = %v", err)
	}
}

// Something else on the port (not a worker) is not a ready worker.
func TestProbeOfSomethingElse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) }))
	defer srv.Close()
	_, err := health.Probe(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err == nil || !strings.Contains(err.Error(), "with no readiness report") {
		t.Fatalf("Probe = %v", err)
	}
}
