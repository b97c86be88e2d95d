// Package health answers whether the worker process is alive (/healthz) and
// ready (/readyz): polling its task queue with no fatal error, and its status
// store answering. Both answer in JSON, 200 when the answer is yes and 503
// when it is no. Probe is the client side, for a container's health check.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultPingTimeout bounds each check of the store: an answer slower than
// this is no answer.
const DefaultPingTimeout = 2 * time.Second

// Pinger is what readiness asks to answer, such as the status store.
type Pinger interface {
	Ping(ctx context.Context) error
}

type workerState int

const (
	starting workerState = iota
	polling
	stopping
	failed
)

// Readiness follows the worker through its life; its Handler serves /healthz
// and /readyz. The zero value is a worker starting, with no store yet.
type Readiness struct {
	// PingTimeout bounds each check of the store; zero means DefaultPingTimeout.
	PingTimeout time.Duration

	mu        sync.Mutex
	state     workerState
	taskQueue string
	fatal     error
	store     Pinger
	storeName string
}

// StoreOpened is called once the status store is open: readiness pings it from now on.
func (r *Readiness) StoreOpened(name string, store Pinger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.store, r.storeName = store, name
}

// Polling is called once the worker polls its task queue.
func (r *Readiness) Polling(taskQueue string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == starting {
		r.state, r.taskQueue = polling, taskQueue
	}
}

// Failed is called when the worker stopped polling on a fatal error.
func (r *Readiness) Failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state, r.fatal = failed, err
}

// Stopping is called when the worker stops taking work.
func (r *Readiness) Stopping() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != failed {
		r.state = stopping
	}
}

// Check is one readiness answer: a part's name and whether it is ready, with why.
type Check struct {
	Ready  bool   `json:"ready"`
	Detail string `json:"detail"`
}

// Report is the body of /readyz.
type Report struct {
	Ready  bool             `json:"ready"`
	Checks map[string]Check `json:"checks"`
}

// Check asks every part now: the worker's state and a ping of the store.
func (r *Readiness) Check(ctx context.Context) Report {
	r.mu.Lock()
	state, taskQueue, fatal, store, storeName := r.state, r.taskQueue, r.fatal, r.store, r.storeName
	r.mu.Unlock()

	var w Check
	switch state {
	case starting:
		w.Detail = "starting: not polling yet"
	case polling:
		w = Check{Ready: true, Detail: "polling task queue " + taskQueue}
	case stopping:
		w.Detail = "stopping: taking no new work"
	case failed:
		w.Detail = "stopped polling on a fatal error: " + fatal.Error()
	}

	var s Check
	if store == nil {
		s.Detail = "not open yet"
	} else {
		timeout := r.PingTimeout
		if timeout <= 0 {
			timeout = DefaultPingTimeout
		}
		pingCtx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		err := store.Ping(pingCtx)
		switch {
		case err == nil:
			s = Check{Ready: true, Detail: fmt.Sprintf("%s answered in %s", storeName, time.Since(start).Round(time.Millisecond))}
		case errors.Is(pingCtx.Err(), context.DeadlineExceeded):
			s.Detail = fmt.Sprintf("%s did not answer within %s", storeName, timeout)
		default:
			s.Detail = err.Error()
		}
	}
	return Report{Ready: w.Ready && s.Ready, Checks: map[string]Check{"worker": w, "store": s}}
}

// Handler serves GET /healthz (the process is alive) and GET /readyz.
func (r *Readiness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"alive": true})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		report := r.Check(req.Context())
		code := http.StatusOK
		if !report.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, report)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body) // the client is gone if this fails
}
