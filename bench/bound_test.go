package bench

import (
	"strings"
	"testing"
	"time"
)

func TestCapIsInFlightOverWindow(t *testing.T) {
	for _, c := range []struct {
		orders, concurrency int
		window              time.Duration
		want                float64
	}{
		{200, 20, 3 * time.Second, 20.0 / 3},
		{1000, 200, time.Second, 200},
		{6, 3, time.Second, 3},
		{50, 200, time.Second, 50}, // fewer orders than slots: only 50 are ever in flight
		{10, 10, 0, 0},
	} {
		if got := Cap(c.orders, c.concurrency, c.window); got != c.want {
			t.Errorf("Cap(%d, %d, %v) = %v, want %v", c.orders, c.concurrency, c.window, got, c.want)
		}
	}
}

func TestBoundByWindowFromNinetyPercentOfTheCap(t *testing.T) {
	for _, c := range []struct {
		throughput, cap float64
		want            string
	}{
		{6.59, 20.0 / 3, BoundWindow}, // the old default: 20 in flight, 3 s window
		{6.23, 20.0 / 3, BoundWindow}, // 93% of the cap
		{6.0, 20.0 / 3, BoundWindow},  // exactly 90%
		{5.99, 20.0 / 3, BoundServer},
		{27.6, 200, BoundServer}, // saturated: 14% of the cap
		{29.7, 200, BoundServer},
		{200, 200, BoundWindow},
		{0, 200, BoundServer},
		{5, 0, BoundServer}, // no cap known: never claim the window
	} {
		if got := Bound(c.throughput, c.cap); got != c.want {
			t.Errorf("Bound(%v, %v) = %s, want %s", c.throughput, c.cap, got, c.want)
		}
	}
}

func TestTableSaysWhatBoundEachRun(t *testing.T) {
	r := &Results{Orders: 1000, Concurrency: 200, WindowSec: 1, CacheSize: 1000}
	r.Throughput.Product, r.Throughput.Baseline, r.Throughput.Ratio = 27.6, 29.7, 27.6/29.7
	r.Throughput.Cap = Cap(r.Orders, r.Concurrency, time.Second)
	r.Throughput.ProductBound, r.Throughput.BaselineBound = Bound(27.6, r.Throughput.Cap), Bound(29.7, r.Throughput.Cap)
	var out strings.Builder
	if err := Print(&out, r); err != nil {
		t.Fatal(err)
	}
	// Compare with the columns' padding collapsed to one space.
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	table := strings.Join(lines, "\n")
	for _, want := range []string{
		"\n27.60 29.70 0.93\n",
		"\ncap: 200 in flight / 1s window 200.00 200.00\n",
		"\nshare of the cap 14% 15%\n",
		"\nbound by (window if >= 90% of the cap) server server compares the server's capacity\n",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRatioMeaning(t *testing.T) {
	for _, c := range []struct{ product, baseline, want string }{
		{BoundServer, BoundServer, "compares the server's capacity"},
		{BoundWindow, BoundWindow, "compares the cap, not the server"},
		{BoundServer, BoundWindow, "a bound only: one run hit the cap"},
		{BoundWindow, BoundServer, "a bound only: one run hit the cap"},
	} {
		if got := ratioMeaning(c.product, c.baseline); got != c.want {
			t.Errorf("ratioMeaning(%s, %s) = %q, want %q", c.product, c.baseline, got, c.want)
		}
	}
}
