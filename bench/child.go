package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// WorkerProcess is the product's worker run alone in its own process, so that
// its memory is measured without the server's. It serves its Go heap figures
// on memAddr and runs until ctx ends.
type WorkerProcess struct {
	Address   string
	Namespace string
	TaskQueue string
	StoreDSN  string
	CacheSize int
	MemAddr   string
}

// MemStats is what the worker process reports, after a garbage collection.
type MemStats struct {
	HeapAlloc uint64 `json:"heapAlloc"`
	HeapInuse uint64 `json:"heapInuse"`
	Sys       uint64 `json:"sys"`
}

// Run runs the worker process.
func (p WorkerProcess) Run(ctx context.Context) error {
	st, err := store.Open(ctx, p.StoreDSN)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := client.DialContext(ctx, client.Options{HostPort: p.Address, Namespace: p.Namespace, Logger: quiet{}})
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, st, worker.Options{TaskQueue: p.TaskQueue, StopTimeout: 5 * time.Second, CacheSize: p.CacheSize,
		Policy: workflows.Policy{ReopenWindow: time.Hour}})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	l, err := net.Listen("tcp", p.MemAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		_ = json.NewEncoder(rw).Encode(MemStats{HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, Sys: m.Sys})
	})}
	go func() { _ = srv.Serve(l) }()
	fmt.Println("ready")
	<-ctx.Done()
	return srv.Close()
}

// quiet drops the SDK's lines: the benchmark prints a table, not logs.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
