package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
	"github.com/cloudmarket/termination-orders/workflows"
)

// An order's status has two readers. Status reads durable state: the status
// store, which keeps every message with the facts its change left (the
// account, the close time and reopen deadline, AWS's answers), and
// Temporal's own record of the workflow (DescribeWorkflowExecution), which
// the server answers without a worker. LiveStatus asks the workflow itself,
// which needs a worker for a running order and knows what the store does
// not hold yet: AWS's answers since the latest status change, and a change
// an update decided whose message is still being stored.

// StatusStore is where Status reads an order's status: the status store
// (*store.Store).
type StatusStore interface {
	// LatestLife returns the messages of the order's latest life in
	// sequence order; none when the store holds no message of the order.
	LatestLife(ctx context.Context, orderID string) ([]store.Message, error)
}

// WithStatusStore makes Status read the status store st, so that it answers
// while workers are stopped or busy. Without it Status is LiveStatus.
func WithStatusStore(st StatusStore) Option {
	return func(c *Client) { c.statuses = st }
}

// defaultLiveWait bounds how long Status waits for the workflow when the
// store is behind it; the store's answer is given when it has not answered.
const defaultLiveWait = 2 * time.Second

// describeWait bounds how long Status waits for Temporal's record of the
// workflow, read while the store is. The server answers it in
// milliseconds when idle; in a herd (thousands of deadlines in one second)
// it waited seconds behind the herd's writes. Past it the store's status is
// given, as when Temporal is down.
const describeWait = 500 * time.Millisecond

// Status reads the order's status from durable state: the status store (see
// WithStatusStore), with Temporal's record of the workflow, so that it
// answers with every worker stopped or busy, and beyond Temporal's
// retention; a server slower than describeWait is not waited for. It is
// never older than what the store holds. When the workflow
// has decided a change whose message is not stored yet (the answer of an
// update comes first), the workflow's own status is given if it answers
// within a moment. An order with nothing stored yet (it is being accepted),
// or whose store cannot be read, is answered by LiveStatus.
func (c *Client) Status(ctx context.Context, orderID string) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	if c.statuses == nil {
		return c.LiveStatus(ctx, orderID)
	}
	// Temporal's record is asked for while the store is read, so that a busy
	// server and a busy store cost the longer of the two waits, not their
	// sum. Both reads begin after the call did, so the record holds every
	// change the caller made before it.
	described := make(chan *workflowservice.DescribeWorkflowExecutionResponse, 1)
	describeCtx, stopDescribe := context.WithCancel(ctx)
	defer stopDescribe()
	go func() { described <- c.describeWithin(describeCtx, orderID) }()
	msgs, err := c.readStore(ctx, orderID)
	if err != nil {
		s, liveErr := c.LiveStatus(ctx, orderID)
		if liveErr != nil {
			return order.Status{}, fmt.Errorf("read status of order %s: the status store failed (%v), and Temporal: %w", orderID, err, liveErr)
		}
		return s, nil
	}
	if len(msgs) == 0 {
		// Nothing stored yet: the order is being accepted, or there is none.
		return c.LiveStatus(ctx, orderID)
	}
	stored := storedStatus(orderID, msgs)
	latest := msgs[len(msgs)-1]
	desc := <-described
	sameLife := desc != nil && ownLife(desc, latest.RunID)
	if latest.Facts == nil {
		return c.withLegacyFacts(ctx, orderID, stored, msgs, desc, sameLife)
	}
	if sameLife && stored.Stage.Before(order.Stage(keyword(searchAttributes(desc), workflows.StageKey.GetName()))) {
		// The workflow decided a change whose message is still being stored.
		if live, ok := c.liveWithin(ctx, orderID); ok {
			return newest(stored, live, msgs), nil
		}
	}
	return stored, nil
}

// describeWithin is Temporal's record of the order's workflow if the server
// gives it within describeWait; nil when it does not hold the order (past
// its retention) or does not answer in time.
func (c *Client) describeWithin(ctx context.Context, orderID string) *workflowservice.DescribeWorkflowExecutionResponse {
	ctx, cancel := context.WithTimeout(ctx, describeWait)
	defer cancel()
	desc, err := c.temporal.DescribeWorkflowExecution(ctx, order.WorkflowID(orderID), "")
	if err != nil {
		return nil
	}
	return desc
}

// readStore reads the order's latest life, giving the store half the
// caller's time, so that the workflow can still answer when it does not.
func (c *Client) readStore(ctx context.Context, orderID string) ([]store.Message, error) {
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Until(deadline)/2)
		defer cancel()
	}
	return c.statuses.LatestLife(ctx, orderID)
}

// storedStatus is the status the store's messages of one life make.
func storedStatus(orderID string, msgs []store.Message) order.Status {
	timeline := make([]order.TimelineEntry, len(msgs))
	for i, m := range msgs {
		timeline[i] = m.Entry()
	}
	var facts order.Facts
	if f := msgs[len(msgs)-1].Facts; f != nil {
		facts = *f
	}
	return order.StatusFrom(orderID, timeline, facts)
}

// ownLife reports whether runKey, the life of the store's latest messages,
// is the workflow's current run: its run, or the first run it was reset from.
func ownLife(desc *workflowservice.DescribeWorkflowExecutionResponse, runKey string) bool {
	info := desc.GetWorkflowExecutionInfo()
	return runKey == info.GetExecution().GetRunId() || runKey == info.GetFirstRunId()
}

func searchAttributes(desc *workflowservice.DescribeWorkflowExecutionResponse) map[string]*commonpb.Payload {
	return desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
}

// liveWithin is LiveStatus, if it answers within the client's live wait.
func (c *Client) liveWithin(ctx context.Context, orderID string) (order.Status, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.liveWait)
	defer cancel()
	s, err := c.LiveStatus(ctx, orderID)
	return s, err == nil
}

// newest is the newer of the stored status and the workflow's (of the same
// life): the workflow's when it holds every stored message, with the time
// and text the store kept for each (its first write); the store's otherwise.
func newest(stored, live order.Status, msgs []store.Message) order.Status {
	if len(live.Timeline) < msgs[len(msgs)-1].Seq {
		return stored
	}
	for _, m := range msgs {
		live.Restamp(m.Entry())
	}
	return live
}

// withLegacyFacts completes the status of an order whose latest message was
// stored before the store kept the facts: the workflow gives them (a
// finished one from its result, without a worker). Without its answer, the
// facts come from Temporal's search attributes, which suffice unless the
// account was already closed (its close time is then known only to the
// workflow).
func (c *Client) withLegacyFacts(ctx context.Context, orderID string, stored order.Status, msgs []store.Message,
	desc *workflowservice.DescribeWorkflowExecutionResponse, sameLife bool) (order.Status, error) {
	if sameLife {
		if live, ok := c.liveWithin(ctx, orderID); ok {
			if len(live.Timeline) >= msgs[len(msgs)-1].Seq {
				return newest(stored, live, msgs), nil
			}
			return order.StatusFrom(orderID, stored.Timeline, live.Facts()), nil
		}
	}
	closed := slices.ContainsFunc(stored.Timeline, func(e order.TimelineEntry) bool {
		switch e.Stage {
		case order.StagePostClosure, order.StageReopened, order.StagePermanentlyClosed:
			return true
		}
		return false
	})
	if closed || desc == nil {
		return order.Status{}, fmt.Errorf("%w: read status of order %s: its messages were stored before the store kept the order's facts, "+
			"and its workflow did not answer in time; ask again, or read terminationctl status %s --live", ErrNoAnswer, orderID, orderID)
	}
	attrs := searchAttributes(desc)
	f := order.Facts{
		AccountID:      keyword(attrs, workflows.AccountIDKey.GetName()),
		SubscriptionID: keyword(attrs, workflows.SubscriptionIDKey.GetName()),
	}
	return order.StatusFrom(orderID, stored.Timeline, f), nil
}

// LiveStatus asks the order's workflow for its status: a running order
// answers its status query, which needs a worker; a finished one is read
// from its result, which does not. It knows what the status store does not
// hold yet (AWS's answers since the latest status change).
func (c *Client) LiveStatus(ctx context.Context, orderID string) (order.Status, error) {
	if err := order.CheckOrderID(orderID); err != nil {
		return order.Status{}, err
	}
	id := order.WorkflowID(orderID)
	desc, err := c.temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		if isNotFound(err) {
			return order.Status{}, fmt.Errorf("%w: no termination order %s (workflow %s)", ErrOrderNotFound, orderID, id)
		}
		return order.Status{}, c.readError(orderID, err)
	}
	var s order.Status
	run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := c.temporal.GetWorkflow(ctx, id, run).Get(ctx, &s); err != nil {
			return order.Status{}, c.readError(orderID, err)
		}
		return s, nil
	}
	v, err := c.temporal.QueryWorkflow(ctx, id, run, workflows.QueryStatus)
	if err != nil {
		var failed *serviceerror.QueryFailed
		if errors.As(err, &failed) {
			return order.Status{}, fmt.Errorf("read status of order %s: %s", orderID, failed.Message)
		}
		return order.Status{}, c.readError(orderID, err)
	}
	if err := v.Get(&s); err != nil {
		return order.Status{}, c.readError(orderID, err)
	}
	return s, nil
}
