package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
)

// ProbeURL is where a probe on this machine reaches the /readyz of a server
// listening on listenAddress: a listener on every interface (0.0.0.0, ::, or
// no host) is reached on the loopback address.
func ProbeURL(listenAddress string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddress)
	if err != nil {
		return "", fmt.Errorf("listen address %q is not host:port: %w", listenAddress, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// Probe asks the /readyz of the worker listening on listenAddress once. It
// returns a one-line answer: why the worker is ready, or, with an error, why
// it is not.
func Probe(ctx context.Context, listenAddress string) (string, error) {
	url, err := ProbeURL(listenAddress)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("no answer from %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("%s: %w", url, err)
	}
	var report Report
	if err := json.Unmarshal(body, &report); err != nil || report.Checks == nil {
		return "", fmt.Errorf("%s answered %s with no readiness report", url, resp.Status)
	}
	line := summary(report)
	if resp.StatusCode != http.StatusOK || !report.Ready {
		return "", fmt.Errorf("not ready: %s", line)
	}
	return "ready: " + line, nil
}

// summary is the report on one line, its parts in name order.
func summary(report Report) string {
	names := make([]string, 0, len(report.Checks))
	for name := range report.Checks {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		c := report.Checks[name]
		mark := "ok"
		if !c.Ready {
			mark = "NOT READY"
		}
		parts[i] = fmt.Sprintf("%s %s (%s)", name, mark, strings.ReplaceAll(c.Detail, "\n", " "))
	}
	return strings.Join(parts, "; ")
}
