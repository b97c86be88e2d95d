package awsorg_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
)

// BenchmarkDescribeAccount is one DescribeAccount through the real SDK
// (signing, HTTP on loopback, decoding) against the emulator: what the
// adapter itself costs, AWS's round trip aside (emulator.SetLatency adds
// one).
func BenchmarkDescribeAccount(b *testing.B) {
	srv := httptest.NewServer(emulator.New(emulator.Seed()))
	defer srv.Close()
	b.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	c, err := awsorg.New(context.Background(), awsorg.Settings{Endpoint: srv.URL}, awsorg.WithCredentials(emulator.StaticCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.DescribeAccount(ctx, member); err != nil {
			b.Fatal(err)
		}
	}
}
