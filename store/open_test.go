package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/internal/netfault"
	"github.com/cloudmarket/termination-orders/internal/pgtest"
	"github.com/cloudmarket/termination-orders/store"
)

// A PostgreSQL server that accepts the connection and never answers fails
// the open after the connect timeout, with an error naming the store (its
// password hidden) and the timeout, instead of hanging it.
func TestOpenGivesUpOnASilentServer(t *testing.T) {
	silent, err := netfault.Silent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, query := range []string{"?sslmode=disable", ""} { // with TLS negotiation too
		dsn := "postgres://termination:s3cret@" + silent.Addr() + "/termination_status" + query
		done := make(chan error, 1)
		go func() {
			st, err := store.Open(context.Background(), dsn, store.WithConnectTimeout(time.Second))
			if err == nil {
				st.Close()
			}
			done <- err
		}()
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("Open(%s) still waiting 30s after its 1s connect timeout", query)
		}
		if !errors.Is(err, store.ErrNoAnswer) {
			t.Fatalf("Open = %v; want ErrNoAnswer", err)
		}
		for _, want := range []string{"status store postgres://termination:xxxxx@" + silent.Addr() + "/termination_status", "did not answer within 1s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open = %v; want %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

// A cancelled open is a cancellation, not a timeout.
func TestOpenCancelledIsNotATimeout(t *testing.T) {
	silent, err := netfault.Silent()
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	_, err = store.Open(ctx, "postgres://termination@"+silent.Addr()+"/db?sslmode=disable", store.WithConnectTimeout(time.Minute))
	if err == nil || strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("Open = %v; want a cancellation", err)
	}
}

// The pool limits reach database/sql on PostgreSQL: at most MaxOpenConns
// connections, MaxIdleConns of them kept idle. Without them the pool is unbounded.
func TestPoolLimitsApplyToPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	unbounded, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer unbounded.Close()
	if got := unbounded.Stats().MaxOpenConnections; got != 0 {
		t.Fatalf("MaxOpenConnections without a pool = %d; want 0 (unbounded), or the test proves nothing", got)
	}

	s, err := store.Open(ctx, dsn, store.WithPool(store.Pool{MaxOpenConns: 4, MaxIdleConns: 2, ConnMaxLifetime: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Stats().MaxOpenConnections; got != 4 {
		t.Fatalf("MaxOpenConnections = %d; want 4", got)
	}
	// Eight concurrent readers share four connections; two stay idle after.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.Timeline(ctx, "ORD-POOL"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.OpenConnections > 4 || st.Idle > 2 {
		t.Fatalf("pool after 8 readers: %d open, %d idle; want at most 4 and 2", st.OpenConnections, st.Idle)
	}
}

// SQLite keeps its single connection whatever the pool says.
func TestSQLiteKeepsOneConnection(t *testing.T) {
	s, err := store.Open(context.Background(), "sqlite:"+t.TempDir()+"/status.db", store.WithPool(store.Pool{MaxOpenConns: 10}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Stats().MaxOpenConnections; got != 1 {
		t.Fatalf("SQLite MaxOpenConnections = %d; want 1", got)
	}
}

// Ping answers while PostgreSQL does, and fails within its context once the
// network path to it goes silent (a black hole).
func TestPingFailsWhenTheServerStopsAnswering(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	proxy, err := netfault.Listen(postgresHostPort(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	ctx := context.Background()
	s, err := store.Open(ctx, viaProxy(t, dsn, proxy.Addr()), store.WithConnectTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return s.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("Ping through the proxy: %v", err)
	}
	if err := proxy.Set(netfault.BlackHole); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err == nil {
		t.Fatal("Ping succeeded while the server was silent")
	}
	if err := proxy.Set(netfault.Forward); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for err := ping(); err != nil; err = ping() {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the path came back: %v", err)
		}
	}
}

func TestRedacted(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://termination:s3cret@db:5432/status?sslmode=disable": "postgres://termination:xxxxx@db:5432/status?sslmode=disable",
		"postgres://termination@db/status":                             "postgres://termination@db/status",
		"postgresql://db/status?password=s3cret&sslmode=require":       "postgresql://db/status?password=xxxxx&sslmode=require",
		"sqlite:data/status.db":                                        "sqlite:data/status.db",
	} {
		if got := store.Redacted(dsn); got != want {
			t.Errorf("Redacted(%q) = %q; want %q", dsn, got, want)
		}
	}
}

func postgresHostPort(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// viaProxy is dsn with its host:port replaced by the proxy's.
func viaProxy(t *testing.T, dsn, proxy string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy
	return u.String()
}
