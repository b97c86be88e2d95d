package starter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/awsorg"
	"github.com/cloudmarket/termination-orders/awsorg/emulator"
	"github.com/cloudmarket/termination-orders/order"
)

// BenchmarkUnlinkWithAWS is what asking AWS costs Operations' unlink: the
// time from the confirm-unlink update to its answer, in each mode, with the
// emulator answering at once and, in verify mode, after 100 ms (a slow AWS
// round trip). In verify mode the account is closed in AWS first, so the
// unlink is accepted; in close mode the answer is the Closing stage, the
// closure itself follows on the close task queue.
func BenchmarkUnlinkWithAWS(b *testing.B) {
	cases := []struct {
		name    string
		mode    activities.AWSMode
		latency time.Duration
	}{
		{"off", activities.AWSOff, 0},
		{"verify", activities.AWSVerify, 0},
		{"verify-aws-100ms", activities.AWSVerify, 100 * time.Millisecond},
		{"close", activities.AWSClose, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := newAWSEnv(b, c.mode, time.Hour, nil)
			e.em.SetLatency(emulator.OpDescribeAccount, c.latency)
			want := order.StagePostClosure
			if c.mode == activities.AWSClose {
				want = order.StageClosing
			}
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				id := fmt.Sprintf("ORD-BENCH-%s-%d", c.name, i)
				acct := e.member(b, id)
				_, err := e.orders.Start(ctx, newOrder(id))
				require.NoError(b, err)
				e.waitForStage(b, id, order.StageAwaitingUnlink)
				if c.mode == activities.AWSVerify {
					require.NoError(b, e.em.SetState(acct, awsorg.StateSuspended))
				}
				b.StartTimer()
				s, err := e.orders.ConfirmUnlink(ctx, id, ops())
				require.NoError(b, err)
				require.Equal(b, want, s.Stage)
			}
		})
	}
}
