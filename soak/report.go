package soak

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Print writes the results as a table, one column per server, then the findings.
func Print(w io.Writer, rs *Results) error {
	fmt.Fprintf(w, "Soak: %d orders per server, %d worker processes, reopen window %gs, store outages %gs, call timeout %gs\n\n",
		rs.Orders, rs.Workers, rs.WindowSec, rs.StoreOutageSec, rs.CallTimeoutSec)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "\t"
	for _, r := range rs.Runs {
		header += r.Server + "\t"
	}
	fmt.Fprintln(tw, header)
	row := func(label string, f func(r Result) string) {
		line := label + "\t"
		for _, r := range rs.Runs {
			line += f(r) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	num := func(f func(r Result) int) func(Result) string {
		return func(r Result) string { return fmt.Sprint(f(r)) }
	}
	row("orders", num(func(r Result) int { return r.Orders }))
	row("  by path (close/reopen/cancel/race/deadline)", func(r Result) string {
		return fmt.Sprintf("%d/%d/%d/%d/%d", r.Paths[PathClose], r.Paths[PathReopen], r.Paths[PathCancel], r.Paths[PathRace], r.Paths[PathDeadline])
	})
	row("  ended (closed/reopened/cancelled/other)", func(r Result) string {
		other := r.Orders - r.FinalStages["PermanentlyClosed"] - r.FinalStages["Reopened"] - r.FinalStages["Cancelled"]
		return fmt.Sprintf("%d/%d/%d/%d", r.FinalStages["PermanentlyClosed"], r.FinalStages["Reopened"], r.FinalStages["Cancelled"], other)
	})
	row("faults: worker SIGKILL", num(func(r Result) int { return r.Faults.WorkerKills }))
	row("        worker exited on its own", num(func(r Result) int { return r.Faults.WorkerCrashes }))
	row("        Temporal server SIGKILL", num(func(r Result) int { return r.Faults.ServerKills }))
	row("        store cut", num(func(r Result) int { return r.Faults.StoreCuts }))
	row("        store black hole", num(func(r Result) int { return r.Faults.StoreBlackHoles }))
	row("client calls (success/rejected/unknown/error)", func(r Result) string {
		return fmt.Sprintf("%d/%d/%d/%d", r.Calls[Success], r.Calls[Rejected], r.Calls[Unknown], r.Calls[Failed])
	})
	row("lost", num(func(r Result) int { return r.Lost }))
	row("doubled", num(func(r Result) int { return r.Doubled }))
	row("early", num(func(r Result) int { return r.Early }))
	row("stuck", num(func(r Result) int { return r.Stuck }))
	row("wrong answers", num(func(r Result) int { return r.WrongAnswers }))
	row("  told success, did not happen", num(func(r Result) int { return r.Wrong.ToldYesButNo }))
	row("  told no, did happen", num(func(r Result) int { return r.Wrong.ToldNoButYes }))
	row("  error instead of an answer", num(func(r Result) int { return r.Wrong.ErrorAnswers }))
	row("  answered after the timeout", num(func(r Result) int { return r.Wrong.LateAnswers }))
	row("WorkflowTaskFailed events", num(func(r Result) int { return r.WorkflowTaskFailed }))
	row("order input in clear", num(func(r Result) int { return r.InputsInClear }))
	row("notifications missing/unexpected/conflicting/invalid", func(r Result) string {
		n := r.Notifications
		return fmt.Sprintf("%d/%d/%d/%d", n.Missing, n.Unexpected, n.Conflicting, n.Invalid)
	})
	row("  events (requests, refused, held, redelivered)", func(r Result) string {
		n := r.Notifications
		return fmt.Sprintf("%d (%d, %d, %d, %d)", n.Events, n.Requests, n.Refused, n.Held, n.Redelivered)
	})
	row("store recovery, s (per outage)", func(r Result) string { return seconds(r.StoreRecoverySec) })
	row("server restart, s (per kill)", func(r Result) string { return seconds(r.ServerRestartSec) })
	row("run time, s", func(r Result) string { return fmt.Sprintf("%.0f", r.DurationSec) })
	row("targets met", func(r Result) string {
		if r.Pass {
			return "yes"
		}
		return "NO"
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs.Runs {
		if len(r.WorkflowTaskFailedCauses) > 0 {
			var causes []string
			for c, n := range r.WorkflowTaskFailedCauses {
				causes = append(causes, fmt.Sprintf("%s %d", c, n))
			}
			slices.Sort(causes)
			fmt.Fprintf(w, "\n%s: WorkflowTaskFailed causes: %s\n", r.Server, strings.Join(causes, ", "))
		}
		if len(r.Findings) > 0 {
			fmt.Fprintf(w, "\n%s: findings (first %d):\n", r.Server, len(r.Findings))
			for _, f := range r.Findings {
				fmt.Fprintln(w, "  "+f)
			}
		}
	}
	return nil
}

func seconds(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	parts := make([]string, len(v))
	for i, s := range v {
		parts[i] = fmt.Sprintf("%.1f", s)
	}
	return strings.Join(parts, " ")
}
