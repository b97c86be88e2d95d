package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Print writes the results as a table.
func Print(w io.Writer, r *Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Termination orders benchmark: %d orders, %d in flight, reopen window %gs, embedded Temporal server (SQLite), workflow cache %s\n\n",
		r.Orders, r.Concurrency, r.WindowSec, cacheName(r.CacheSize))
	fmt.Fprintln(tw, "History events per order\tproduct\tbaseline\t")
	fmt.Fprintf(tw, "permanently closed (happy path)\t%d\t%d\t\n", r.Events.PermanentlyClosed, r.Events.Baseline)
	fmt.Fprintf(tw, "reopened\t%d\t\t\n", r.Events.Reopened)
	fmt.Fprintf(tw, "cancelled\t%d\t\t\n", r.Events.Cancelled)
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "Notifications of the product run (signed webhooks)\tevents\tper order\t")
	per := func(n int) float64 { return float64(n) / float64(max(r.Orders, 1)) }
	fmt.Fprintf(tw, "status events to the marketplace\t%d\t%.1f\t\n", r.Notifications.ByType["order.status"], per(r.Notifications.ByType["order.status"]))
	fmt.Fprintf(tw, "work items to Operations\t%d\t%.1f\t\n", r.Notifications.ByType["operations.unlink_requested"], per(r.Notifications.ByType["operations.unlink_requested"]))
	fmt.Fprintf(tw, "requests received (bad signatures)\t%d (%d)\t\t\n", r.Notifications.Requests, r.Notifications.Invalid)
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "Throughput (completed orders/s)\tproduct\tbaseline\tratio\t")
	fmt.Fprintf(tw, "\t%.2f\t%.2f\t%.2f\t\n", r.Throughput.Product, r.Throughput.Baseline, r.Throughput.Ratio)
	fmt.Fprintf(tw, "cap: %d in flight / %gs window\t%.2f\t%.2f\t\t\n", min(r.Orders, r.Concurrency), r.WindowSec, r.Throughput.Cap, r.Throughput.Cap)
	fmt.Fprintf(tw, "share of the cap\t%.0f%%\t%.0f%%\t\t\n", share(r.Throughput.Product, r.Throughput.Cap), share(r.Throughput.Baseline, r.Throughput.Cap))
	fmt.Fprintf(tw, "bound by (window if >= %.0f%% of the cap)\t%s\t%s\t%s\t\n", WindowBoundFraction*100,
		r.Throughput.ProductBound, r.Throughput.BaselineBound, ratioMeaning(r.Throughput.ProductBound, r.Throughput.BaselineBound))
	fmt.Fprintln(tw, "\t\t\t")
	fmt.Fprintln(tw, "Latency (ms)\tp50\tp95\tp99\t")
	row := func(name string, p Percentiles) {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t\n", name, p.P50, p.P95, p.P99)
	}
	row("start call", r.Latency.Start)
	row("start call, baseline", r.Latency.BaselineStart)
	row("unlink confirmed -> status message stored", r.Latency.UnlinkStored)
	row("timer due -> final message stored", r.Latency.TimerStored)
	fmt.Fprintln(tw, "\t\t\t")
	if e := r.Encryption; e != nil {
		printEncryption(tw, e)
		fmt.Fprintln(tw, "\t\t\t")
	}
	if r.API.Orders > 0 {
		fmt.Fprintf(tw, "HTTP API vs Go starter (ms, %d orders each, one at a time)\tp50\tp95\tp99\tp99 ratio\t\n", r.API.Orders)
		apiRow := func(name string, l APILatency) {
			row(name+", Go starter", l.Go)
			fmt.Fprintf(tw, "%s, HTTP API\t%.1f\t%.1f\t%.1f\t%.2f\t\n", name, l.HTTP.P50, l.HTTP.P95, l.HTTP.P99, l.HTTP.P99/max(l.Go.P99, 0.001))
		}
		apiRow("start", r.API.Start)
		apiRow("status", r.API.Status)
		apiRow("unlink", r.API.Unlink)
		fmt.Fprintln(tw, "\t\t\t")
	}
	fmt.Fprintln(tw, "Worker memory, orders open in their window\tRSS (MiB)\tGo live heap (MiB)\t")
	for _, m := range r.Memory {
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t\n", m.Open, mib(m.RSS), mib(m.HeapLive))
	}
	return tw.Flush()
}

// printEncryption is the table's Encryption section: the product's run with
// payload encryption off and on, side by side.
func printEncryption(w io.Writer, e *EncryptionCost) {
	fmt.Fprintln(w, "Encryption (product run, payloads in clear vs AES-256-GCM)\toff\ton\ton/off\t")
	fmt.Fprintf(w, "completed orders/s\t%.2f\t%.2f\t%.2f\t\n", e.Off.Throughput, e.On.Throughput, e.Ratio)
	fmt.Fprintf(w, "bound by\t%s\t%s\t%s\t\n", e.Off.Bound, e.On.Bound, ratioMeaning(e.Off.Bound, e.On.Bound))
	ms := func(name string, off, on float64) {
		fmt.Fprintf(w, "%s (ms)\t%.1f\t%.1f\t%.2f\t\n", name, off, on, on/max(off, 0.001))
	}
	ms("start call p50", e.Off.Start.P50, e.On.Start.P50)
	ms("start call p99", e.Off.Start.P99, e.On.Start.P99)
	ms("unlink confirmed -> status message stored p50", e.Off.UnlinkStored.P50, e.On.UnlinkStored.P50)
	ms("unlink confirmed -> status message stored p99", e.Off.UnlinkStored.P99, e.On.UnlinkStored.P99)
	fmt.Fprintf(w, "stored start input, result (one order's history)\t%s, %s\t%s, %s\t\t\n", e.Off.InputEncoding, e.Off.ResultEncoding, e.On.InputEncoding, e.On.ResultEncoding)
	fmt.Fprintf(w, "webhooks received: status events, work items\t%d, %d\t%d, %d\t\t\n", e.Off.StatusEvents, e.Off.WorkItems, e.On.StatusEvents, e.On.WorkItems)
}

func share(throughput, limit float64) float64 {
	if limit <= 0 {
		return 0
	}
	return 100 * throughput / limit
}

// ratioMeaning says what the ratio compares: the server's capacity for each
// shape only when both runs were bound by the server.
func ratioMeaning(product, baseline string) string {
	switch {
	case product == BoundServer && baseline == BoundServer:
		return "compares the server's capacity"
	case product == BoundWindow && baseline == BoundWindow:
		return "compares the cap, not the server"
	default:
		return "a bound only: one run hit the cap"
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func cacheName(n int) string {
	if n == 0 {
		return "SDK default (10000)"
	}
	return fmt.Sprint(n)
}

// PrintList writes a list run's results as a table.
func PrintList(w io.Writer, r *ListResults) error {
	fmt.Fprintf(w, "List latency on the embedded Temporal server (SQLite), %d asks of each list at each count, pages of %d\n\n", r.Repeats, ListPageSize)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "orders\tin PostClosure\tlist (ms)\tp50\tp99\t")
	for _, s := range r.At {
		fmt.Fprintf(tw, "%d\t%d\tby stage (Web UI, CLI --query), first page\t%.1f\t%.1f\t\n", s.Orders, s.PostClosure, s.StageFirstPage.P50, s.StageFirstPage.P99)
		fmt.Fprintf(tw, "\t\tdefault (CLI, Web UI), first page\t%.1f\t%.1f\t\n", s.DefaultFirstPage.P50, s.DefaultFirstPage.P99)
		fmt.Fprintf(tw, "\t\tcount by stage (Web UI)\t%.1f\t%.1f\t\n", s.StageCount.P50, s.StageCount.P99)
		fmt.Fprintf(tw, "\t\tdefault, every page (the CLI's whole list)\t%.1f\t%.1f\t\n", s.DefaultAll.P50, s.DefaultAll.P99)
		fmt.Fprintf(tw, "\t\tfilled at (starts/s)\t%.0f\t\t\n", s.FillPerSecond)
	}
	return tw.Flush()
}
