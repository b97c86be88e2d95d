package devserver

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/config"
)

// AWSEmulator is the dev command's AWS Organizations: the emulator of the
// seeded organization (docs/aws.md), so that the verify and close modes run
// offline.
type AWSEmulator struct {
	srv          *emulator.Server
	url          string
	closureDelay time.Duration
}

// StartAWSEmulator serves the emulator of the seeded organization on a free
// port of ip; its closed accounts stay PENDING_CLOSURE for closureDelay.
func StartAWSEmulator(ip string, closureDelay time.Duration) (*AWSEmulator, error) {
	cfg := emulator.Seed()
	cfg.ClosureDelay = closureDelay
	srv, err := emulator.Start(net.JoinHostPort(ip, "0"), cfg)
	if err != nil {
		return nil, err
	}
	// Clients dial a listening address; "all interfaces" is not one.
	dialIP := ip
	if parsed := net.ParseIP(ip); parsed != nil && parsed.IsUnspecified() {
		dialIP = "127.0.0.1"
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return &AWSEmulator{srv: srv, url: "http://" + net.JoinHostPort(dialIP, port), closureDelay: closureDelay}, nil
}

// URL is the emulator's endpoint, which aws.organizations.endpoint names.
func (e *AWSEmulator) URL() string { return e.url }

// AdapterOptions are what the worker's Organizations adapter needs to talk
// to the emulator: its fake keys, whatever credentials the machine has.
func (e *AWSEmulator) AdapterOptions() []awsorg.Option {
	return []awsorg.Option{awsorg.WithCredentials(emulator.StaticCredentials())}
}

// Emulator is the emulator itself: its accounts, faults and call log.
func (e *AWSEmulator) Emulator() *emulator.Emulator { return e.srv.Emulator }

// Close stops the emulator.
func (e *AWSEmulator) Close(ctx context.Context) error { return e.srv.Close(ctx) }

// awsLine says what the orders ask of AWS Organizations, and where.
func awsLine(c config.AWSOrganizations, em *AWSEmulator) string {
	line := "mode " + c.Mode
	switch {
	case em != nil:
		line += fmt.Sprintf("; emulator at %s (organization %s, management account %s, %d ACTIVE member accounts; closures take %s)",
			em.URL(), emulator.SeedOrganizationID, emulator.SeedManagementAccountID, len(emulator.SeedMemberAccountIDs), em.closureDelay)
	case c.Endpoint != "":
		line += "; endpoint " + c.Endpoint
	case c.Mode != config.AWSModeOff:
		line += "; AWS in " + c.Region
	}
	return line
}
