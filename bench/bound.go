package bench

import "time"

// A throughput run is bound either by its window or by the server.
//
// Every order (and every baseline workflow) waits its whole window, so with
// inFlight of them at once no run can complete more than inFlight / window
// per second: the concurrency cap. A run that reaches the cap measured the
// cap, not the server, and a ratio of two such runs is about 1 whatever the
// product costs. Only a run clearly below the cap was held back by the
// server (and the worker, and the load generator, all on the same machine),
// which is what the throughput comparison is meant to measure.
const (
	BoundWindow = "window"
	BoundServer = "server"
)

// WindowBoundFraction is the share of the cap from which a run counts as
// bound by the window.
const WindowBoundFraction = 0.9

// Cap is the most orders per second a run of n orders with concurrency in
// flight and the given window can complete: min(n, concurrency) / window.
func Cap(n, concurrency int, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return float64(min(n, concurrency)) / window.Seconds()
}

// Bound classifies a measured throughput against its cap: BoundWindow if it
// is at least WindowBoundFraction of the cap, else BoundServer.
func Bound(throughput, cap float64) string {
	if cap > 0 && throughput >= WindowBoundFraction*cap {
		return BoundWindow
	}
	return BoundServer
}
