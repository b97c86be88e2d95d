package devserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/cloudmarket/termination-orders/worker"
	"github.com/cloudmarket/termination-orders/workflows"
)

// The server runs as one node on one database: the figures below are chosen
// for that, against those of `temporal server start-dev`, and
// docs/performance.md says why each.

// historyShards is the history shard count of a new database. A database
// keeps the count it was made with (the server takes the stored one), so
// this applies to new data directories only.
const historyShards = 1

// namespaceRefresh is how often every service of the server reads the
// namespace, with its search attributes, afresh.
const namespaceRefresh = 2 * time.Second

// dynamicConfig is the server's dynamic configuration, with the task queues
// of onePartition in one partition each.
func dynamicConfig(onePartition []string) dynamicconfig.StaticClient {
	// One slice per key, kept: the server caches conversions per slice.
	v := func(x any) []dynamicconfig.ConstrainedValue { return []dynamicconfig.ConstrainedValue{{Value: x}} }
	// A queue's rate limit is split among its partitions (four by default),
	// each letting a task through at once: the close task queue's one
	// CloseAccount at a time needs the queue whole (docs/aws.md).
	var partitions []dynamicconfig.ConstrainedValue
	for _, q := range onePartition {
		partitions = append(partitions, dynamicconfig.ConstrainedValue{Constraints: dynamicconfig.Constraints{TaskQueueName: q}, Value: 1})
	}
	return dynamicconfig.StaticClient{
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  partitions,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): partitions,
		// A read through the cache, not of the database: forced, every row
		// of a list cost one read of the namespace, and a list of a
		// thousand orders exhausted the frontend's persistence budget.
		// Search attributes added at run time are usable after the next
		// namespace refresh; Start waits for it when it adds any.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): v(false),
		dynamicconfig.NamespaceCacheRefreshInterval.Key():           v(namespaceRefresh),
		// The node's own database is the bound: a rate limit below what
		// it serves only turns load into RESOURCE_EXHAUSTED errors.
		dynamicconfig.FrontendPersistenceMaxQPS.Key(): v(10000),
		dynamicconfig.HistoryPersistenceMaxQPS.Key():  v(45000),
		// The Web UI asks several visibility calls per page (list, count,
		// saved views); the default of 10/s refuses a few people at once.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): v(100),
		// Mutable states kept in memory: a herd of 10,000 orders woken in
		// the same second stays cached, where the default (128,000)
		// bounds nothing a small machine has.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): v(16384),
		// Events of recent tasks: the one shard's cache is the node's, so
		// it gets the room a host-level cache would.
		dynamicconfig.EventsCacheMaxSizeBytes.Key(): v(64 << 20),
	}
}

// ensureSearchAttributes registers the contract's search attributes that the
// namespace lacks (one made by an older version) and returns once the
// server's services map them: without a read of the database per use, each
// sees them at its next namespace refresh, and an order started before
// would be refused.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	if worker.CheckSearchAttributes(ctx, c, namespace) == nil {
		return nil
	}
	if err := worker.RegisterSearchAttributes(ctx, c, namespace); err != nil {
		return err
	}
	// The frontend maps a visibility query through its namespace cache:
	// it accepts this one once it knows every attribute.
	conds := make([]string, len(workflows.SearchAttributes))
	for i, key := range workflows.SearchAttributes {
		conds[i] = key.GetName() + " IS NULL"
	}
	query := strings.Join(conds, " AND ")
	for {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err == nil {
			break
		}
		var invalid *serviceerror.InvalidArgument
		if !errors.As(err, &invalid) {
			return fmt.Errorf("search attributes of namespace %s: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes registered in namespace %s are not in use yet: %w", namespace, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Every other service refreshes on the same period: within one more,
	// each has read the namespace since the registration.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(namespaceRefresh + 500*time.Millisecond):
		return nil
	}
}
