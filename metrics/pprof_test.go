package metrics_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/metrics"
)

func TestProfilesServeHeapAndCPU(t *testing.T) {
	p, err := metrics.StartProfiles("127.0.0.1:0", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background()) //nolint:errcheck // test cleanup
	for _, path := range []string{"", "heap?debug=1", "profile?seconds=1"} {
		resp, err := http.Get(p.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close() //nolint:errcheck // read already
		if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d, %d bytes, %v", path, resp.StatusCode, len(body), err)
		}
		if path == "heap?debug=1" && !strings.Contains(string(body), "heap profile") {
			t.Errorf("heap profile = %.80q", body)
		}
	}
}

func TestProfilesRefuseABusyAddressNamingTheKey(t *testing.T) {
	p, err := metrics.StartProfiles("127.0.0.1:0", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background()) //nolint:errcheck // test cleanup
	addr := strings.TrimSuffix(strings.TrimPrefix(p.URL(), "http://"), "/debug/pprof/")
	if _, err := metrics.StartProfiles(addr, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "worker.pprof_address") {
		t.Fatalf("second StartProfiles on %s = %v; want an error naming worker.pprof_address", addr, err)
	}
}
