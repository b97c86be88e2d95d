package devserver

import (
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
)

// The close task queue is in one partition, read as the server's matching
// service reads it; every other queue keeps the server's default.
func TestCloseTaskQueueIsInOnePartition(t *testing.T) {
	dc := dynamicconfig.NewCollection(dynamicConfig([]string{"orders-aws-close"}), log.NewNoopLogger())
	dc.Start()
	t.Cleanup(dc.Stop)
	read := dynamicconfig.MatchingNumTaskqueueReadPartitions.Get(dc)
	write := dynamicconfig.MatchingNumTaskqueueWritePartitions.Get(dc)
	for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_ACTIVITY, enumspb.TASK_QUEUE_TYPE_WORKFLOW} {
		require.Equal(t, 1, read("default", "orders-aws-close", typ))
		require.Equal(t, 1, write("default", "orders-aws-close", typ))
		require.Equal(t, 4, read("default", "orders", typ), "the other queues keep the default")
		require.Equal(t, 4, write("default", "orders", typ))
	}
}
