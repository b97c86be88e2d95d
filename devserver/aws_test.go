package devserver

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/config"
)

// The dev command's emulator answers the adapter as AWS would, whatever
// credentials the machine has.
func TestAWSEmulatorServesTheSeededOrganization(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	em, err := StartAWSEmulator("0.0.0.0", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close(context.Background())
	if !strings.HasPrefix(em.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %s; want one to dial", em.URL())
	}
	ctx := context.Background()
	orgs, err := awsorg.New(ctx, awsorg.Settings{Endpoint: em.URL()}, em.AdapterOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range emulator.SeedMemberAccountIDs {
		if s, err := orgs.DescribeAccount(ctx, id); err != nil || s != awsorg.StateActive {
			t.Errorf("seeded account %s = %q, %v", id, s, err)
		}
	}
	if err := orgs.CloseAccount(ctx, "123456789012"); err != nil {
		t.Fatal(err)
	}
	if s, _ := orgs.DescribeAccount(ctx, "123456789012"); s != awsorg.StatePendingClosure {
		t.Errorf("closed account = %q; want PENDING_CLOSURE for the closure delay", s)
	}
	if err := orgs.CloseAccount(ctx, emulator.SeedManagementAccountID); !errors.Is(err, awsorg.ErrManagementAccount) {
		t.Errorf("closing the management account = %v", err)
	}
	if n := len(em.Emulator().Calls()); n != len(emulator.SeedMemberAccountIDs)+3 {
		t.Errorf("the emulator logged %d calls", n)
	}
	line := awsLine(config.AWSOrganizations{Mode: config.AWSModeClose}, em)
	if !strings.Contains(line, "mode close; emulator at "+em.URL()) || !strings.Contains(line, "closures take 1h0m0s") {
		t.Errorf("banner line = %q", line)
	}
}
