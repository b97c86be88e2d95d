package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// PrintHerd writes a herd run's table.
func PrintHerd(w io.Writer, r *HerdResults) error {
	fmt.Fprintf(w, "Herd: %d orders, %d calls in flight, every deadline in one second (window %gs, bare %gs), Temporal %s (%s), workflow cache %s; load %s → %s\n\n",
		r.Orders, r.Concurrency, r.WindowSec, r.BareWindowSec, r.Server, shardsName(r.HistoryShards), cacheName(r.CacheSize), r.Load.Start, r.Load.End)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tproduct\tbare, signal\tbare, update\tproduct/bare\t")
	row := func(name string, p, s, u HerdPhase, vs float64) {
		fmt.Fprintf(tw, "%s /s\t%.1f\t%.1f\t%.1f\t%.2f\t\n", name, p.Rate, s.Rate, u.Rate, vs)
		fmt.Fprintf(tw, "%s p50 / p99 ms\t%.0f / %.0f\t%.0f / %.0f\t%.0f / %.0f\t\t\n", name, p.Latency.P50, p.Latency.P99, s.Latency.P50, s.Latency.P99, u.Latency.P50, u.Latency.P99)
		fmt.Fprintf(tw, "%s failed, past 30 s\t%d, %d\t%d, %d\t%d, %d\t\t\n", name, p.Failed, p.PastAPITimeout, s.Failed, s.PastAPITimeout, u.Failed, u.PastAPITimeout)
	}
	row("starts", r.Product.Start, r.BareSignal.Start, r.BareUpdate.Start, r.Ratios.StartRate)
	row("unlinks", r.Product.Unlink, r.BareSignal.Unlink, r.BareUpdate.Unlink, r.Ratios.UnlinkVsUpdate)
	fmt.Fprintf(tw, "deadlines drained in s\t%.1f\t%.1f\t%.1f\t%.2f\t\n", r.Product.Drain.Seconds, r.BareSignal.Drain.Seconds, r.BareUpdate.Drain.Seconds, r.Ratios.DrainVsBare)
	fmt.Fprintf(tw, "Temporal database per order KB\t%.1f\t%.1f\t%.1f\t%.2f\t\n", r.Product.BytesPerOrder/1000, r.BareSignal.BytesPerOrder/1000, r.BareUpdate.BytesPerOrder/1000, r.Ratios.BytesVsBare)
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintln(tw, "interactive probes (product)\tstatus p99 ms\tstatus failed/calls\tunlink p99 ms\tunlink failed/calls\t")
	probe := func(name string, p *Probes) {
		if p == nil {
			return
		}
		fmt.Fprintf(tw, "during %s\t%.0f\t%d/%d\t%.0f\t%d/%d\t\n", name, p.Status.Latency.P99, p.Status.Failed, p.Status.Calls, p.Unlink.Latency.P99, p.Unlink.Failed, p.Unlink.Calls)
	}
	probe("starts", r.Product.Start.Probes)
	probe("unlinks", r.Product.Unlink.Probes)
	probe("drain", r.Product.Drain.Probes)
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintln(tw, "a person's unlink, split\tto its task p50 / p99 ms\tfrom it p50 / p99 ms\t\t\t")
	split := func(name string, p *Probes) {
		if p == nil || p.Unlink.ToTask == nil {
			return
		}
		to, from := p.Unlink.ToTask, p.Unlink.FromTask
		fmt.Fprintf(tw, "during %s\t%.0f / %.0f\t%.0f / %.0f\t\t\t\n", name, to.P50, to.P99, from.P50, from.P99)
	}
	split("starts", r.Product.Start.Probes)
	split("unlinks", r.Product.Unlink.Probes)
	split("drain", r.Product.Drain.Probes)
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintln(tw, "product task queue backlog\tworkflow tasks, most\toldest waited ms\tactivity tasks, most\t\t")
	backlog := func(name string, b *Backlog) {
		if b != nil {
			fmt.Fprintf(tw, "during %s\t%d\t%.0f\t%d\t\t\n", name, b.WorkflowTasks, b.WorkflowAge, b.ActivityTasks)
		}
	}
	backlog("unlinks", r.Product.Unlink.Backlog)
	backlog("drain", r.Product.Drain.Backlog)
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintf(tw, "list by stage at N: first page of 1,000 ms\t%.0f\tcount ms\t%.0f\t\t\n", r.List.FirstPage, r.List.Count)
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printUsage(w, r); err != nil {
		return err
	}
	printNotes(w, r)
	return nil
}

// printUsage writes where each phase's CPU went, when it was measured.
func printUsage(w io.Writer, r *HerdResults) error {
	phases := []struct {
		name string
		u    *Usage
	}{
		{"product starts", r.Product.Start.Usage}, {"product unlinks", r.Product.Unlink.Usage}, {"product drain", r.Product.Drain.Usage},
		{"bare signal unlinks", r.BareSignal.Unlink.Usage}, {"bare signal drain", r.BareSignal.Drain.Usage},
		{"bare update unlinks", r.BareUpdate.Unlink.Usage}, {"bare update drain", r.BareUpdate.Drain.Usage},
	}
	if phases[0].u == nil {
		return nil
	}
	onPG := r.Server == herdServerPostgres
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "where the time went, cores\tserver and callers\tworker\t"
	if onPG {
		header += "PostgreSQL\tbusy sessions: history\tvisibility\tstatus store\t"
	}
	fmt.Fprintln(tw, header)
	for _, p := range phases {
		if p.u == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t", p.name, p.u.Bench, p.u.Worker)
		if onPG {
			fmt.Fprintf(tw, "%.2f\t%.2f\t%.2f\t%.2f\t", p.u.Postgres, p.u.TemporalBusy, p.u.VisibilityBusy, p.u.StatusBusy)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// printNotes writes what the run warns of, and each kind's first error.
func printNotes(w io.Writer, r *HerdResults) {
	for _, note := range []struct {
		on   bool
		what string
	}{
		{r.Product.Drain.Overlapped, "the product's unlinks ran past its deadline: raise --window"},
		{r.BareSignal.Drain.Overlapped || r.BareUpdate.Drain.Overlapped, "a bare shape's unlinks ran past its deadline: raise --bare-window"},
	} {
		if note.on {
			fmt.Fprintf(w, "\nNote: %s\n", note.what)
		}
	}
	for _, e := range []struct{ name, err string }{
		{"product start", r.Product.Start.FirstError}, {"product unlink", r.Product.Unlink.FirstError},
		{"bare signal", r.BareSignal.Unlink.FirstError}, {"bare update", r.BareUpdate.Unlink.FirstError},
	} {
		if e.err != "" {
			fmt.Fprintf(w, "first %s error: %s\n", e.name, e.err)
		}
	}
	for _, p := range []*Probes{r.Product.Start.Probes, r.Product.Unlink.Probes, r.Product.Drain.Probes} {
		if p != nil && p.Status.FirstError != "" {
			fmt.Fprintf(w, "first status probe error: %s\n", p.Status.FirstError)
			break
		}
	}
}

// shardsName is a server's history shard count, as the header says it.
func shardsName(n int) string {
	if n == 1 {
		return "1 history shard"
	}
	return fmt.Sprintf("%d history shards", n)
}
