package soak

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
)

// The paths an order takes; every fifth order takes each.
const (
	PathClose    = "close"    // unlinked, then closed for good when the window ends
	PathReopen   = "reopen"   // unlinked, then reopened well inside the window
	PathCancel   = "cancel"   // cancelled before the unlink
	PathRace     = "race"     // the unlink and a cancel sent at the same moment
	PathDeadline = "deadline" // unlinked, then reopened right around the deadline
)

var paths = []string{PathClose, PathReopen, PathCancel, PathRace, PathDeadline}

// Outcome is what a client call told its caller.
type Outcome string

// Outcomes.
const (
	Success  Outcome = "success"
	Rejected Outcome = "rejected" // a definite no, with the reason
	// Unknown: the call timed out or the service was unreachable; the caller
	// cannot tell whether it happened.
	Unknown Outcome = "unknown"
	// Failed: an error that is none of those (neither an answer nor an honest
	// "unknown"): the caller is told something went wrong, not what.
	Failed Outcome = "error"
)

// Call is one client call and what it answered.
type Call struct {
	Kind    string        `json:"kind"` // start, unlink, cancel, reopen, status
	Began   time.Time     `json:"began"`
	Took    time.Duration `json:"tookNanos"`
	Outcome Outcome       `json:"outcome"`
	// Allowed are the final stages the answer is consistent with; empty when
	// it says nothing about them.
	Allowed []order.Stage `json:"allowedFinalStages,omitempty"`
	// Forbidden is the final stage the answer rules out: a definite no to a
	// request says it did not happen.
	Forbidden order.Stage `json:"forbiddenFinalStage,omitempty"`
	// Exists: the answer says the order was started.
	Exists bool `json:"exists,omitempty"`
	// Again: a refusal for now (nothing changed, ask again shortly).
	Again bool   `json:"again,omitempty"`
	Error string `json:"error,omitempty"`
}

// orderRun is one order the soak drives, and every call made for it.
type orderRun struct {
	order order.Order
	path  string

	mu    sync.Mutex
	calls []Call
}

func (o *orderRun) add(c Call) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, c)
}

// startOrders starts the orders' drivers, spread evenly over span so that
// orders are at every point of their lives when each fault strikes.
func (r *runner) startOrders(ctx context.Context, wg *sync.WaitGroup, span time.Duration) {
	n := r.opts.Orders
	every := span / time.Duration(n)
	for i := range n {
		o := &orderRun{path: paths[i%len(paths)], order: order.Order{
			OrderID:         fmt.Sprintf("SOAK-%s-%05d", r.kind, i+1),
			SubscriptionID:  fmt.Sprintf("SUB-%05d", i+1),
			AccountID:       fmt.Sprintf("%012d", 100000000000+i),
			TerminationType: order.TerminationTypeCloseAccount,
			Items:           []order.Item{{ItemID: "ITM-1"}},
			RequestedBy:     "soak@example.com",
			// The window is the order's own, as the worker's policy may differ.
			ReopenWindowSeconds: int64(r.opts.Window / time.Second),
		}}
		r.runs = append(r.runs, o)
		wg.Go(func() {
			if sleep(ctx, time.Duration(i)*every) != nil {
				return
			}
			r.drive(ctx, o)
		})
	}
}

func (r *runner) drive(ctx context.Context, o *orderRun) {
	id := o.order.OrderID
	if c := r.until(ctx, o, "start", func(ctx context.Context) (order.Status, error) {
		_, err := r.orders.Start(ctx, o.order)
		return order.Status{}, err
	}); !c.Exists {
		return
	}
	// Each request keeps its request ID across retries, as a careful client
	// does: a retry of a request that was applied gets the original answer.
	unlink := func(ctx context.Context) (order.Status, error) {
		return r.orders.ConfirmUnlink(ctx, id, order.UnlinkCompleted{CompletedBy: "ops@example.com", Reference: "OPS-" + id, RequestID: "unlink-" + id})
	}
	cancel := func(ctx context.Context) (order.Status, error) {
		return r.orders.Cancel(ctx, id, order.Request{RequestedBy: "soak@example.com", Reason: "soak " + o.path, RequestID: "cancel-" + id})
	}
	reopen := func(ctx context.Context) (order.Status, error) {
		return r.orders.Reopen(ctx, id, order.Request{RequestedBy: "soak@example.com", Reason: "soak " + o.path, RequestID: "reopen-" + id})
	}
	switch o.path {
	case PathClose:
		r.until(ctx, o, "unlink", unlink)
	case PathCancel:
		_ = sleep(ctx, time.Duration(r.intn(500))*time.Millisecond)
		r.until(ctx, o, "cancel", cancel)
	case PathRace:
		// Both requests leave at the same moment, from two callers, at some
		// point of the order's first second (its first workflow task done or not).
		_ = sleep(ctx, time.Duration(r.intn(1000))*time.Millisecond)
		ready := make(chan struct{})
		var both sync.WaitGroup
		both.Go(func() { <-ready; r.until(ctx, o, "unlink", unlink) })
		both.Go(func() { <-ready; r.until(ctx, o, "cancel", cancel) })
		close(ready)
		both.Wait()
	case PathReopen:
		if c := r.until(ctx, o, "unlink", unlink); c.Outcome != Success {
			return
		}
		_ = sleep(ctx, r.opts.Window/4)
		r.until(ctx, o, "reopen", reopen)
	case PathDeadline:
		if c := r.until(ctx, o, "unlink", unlink); c.Outcome != Success {
			return
		}
		var deadline time.Time
		r.until(ctx, o, "status", func(ctx context.Context) (order.Status, error) {
			s, err := r.orders.Status(ctx, id)
			deadline = s.ReopenDeadline
			return s, err
		})
		if deadline.IsZero() {
			return
		}
		// Within 300 ms either side of the deadline.
		at := deadline.Add(time.Duration(r.intn(600)-300) * time.Millisecond)
		_ = sleep(ctx, time.Until(at))
		r.until(ctx, o, "reopen", reopen)
	}
}

// until makes a call again, as a careful client would, until it gets an
// answer (success or a rejection) or the run gives up; it returns the last call.
func (r *runner) until(ctx context.Context, o *orderRun, kind string, f func(context.Context) (order.Status, error)) Call {
	for {
		c := r.call(ctx, o, kind, f)
		if c.Outcome == Success || c.Outcome == Rejected && !c.Again || time.Now().After(r.giveUp) || ctx.Err() != nil {
			return c
		}
		if sleep(ctx, time.Second) != nil {
			return c
		}
	}
}

func (r *runner) call(ctx context.Context, o *orderRun, kind string, f func(context.Context) (order.Status, error)) Call {
	callCtx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	began := time.Now()
	s, err := f(callCtx)
	cancel()
	c := classify(kind, o.order.OrderID, s, err)
	c.Began, c.Took = began, time.Since(began)
	o.add(c)
	return c
}

// classify turns a call's answer into its outcome and what it tells about the
// order's end.
func classify(kind, orderID string, s order.Status, err error) Call {
	c := Call{Kind: kind}
	if err != nil {
		c.Error = err.Error()
	}
	afterUnlink := []order.Stage{order.StagePermanentlyClosed, order.StageReopened}
	var rejected *starter.RejectedError
	switch {
	case err == nil:
		c.Outcome = Success
		switch kind {
		case "start":
			c.Exists = true
		case "unlink":
			c.Allowed = afterUnlink
		case "cancel":
			c.Allowed = []order.Stage{order.StageCancelled}
		case "reopen":
			c.Allowed = []order.Stage{order.StageReopened}
		case "status":
			c.Allowed = allowedFrom(s.Stage)
		}
	case errors.Is(err, starter.ErrOrderExists):
		c.Outcome, c.Exists = Rejected, true
	case errors.As(err, &rejected) && rejected.Kind == order.RefusedNotAcceptedYet,
		strings.Contains(err.Error(), order.NotAcceptedYet(orderID).Error()):
		// An order still being accepted answers "nothing changed, ask again".
		c.Outcome, c.Again = Rejected, true
	case errors.Is(err, starter.ErrAlreadyUnlinked):
		c.Outcome, c.Allowed = Rejected, afterUnlink
	case errors.Is(err, starter.ErrClosedForGood):
		c.Outcome, c.Allowed = Rejected, []order.Stage{order.StagePermanentlyClosed}
	case errors.Is(err, starter.ErrRejected):
		c.Outcome, c.Allowed = Rejected, allowedFrom(s.Stage)
		switch kind {
		case "unlink":
			// An order the soak started refuses the unlink only once cancelled.
			c.Allowed = []order.Stage{order.StageCancelled, order.StageFailed}
		case "cancel":
			c.Forbidden = order.StageCancelled
		case "reopen":
			c.Forbidden = order.StageReopened
		}
	case errors.Is(err, starter.ErrOutcomeUnknown), errors.Is(err, starter.ErrNoAnswer), outcomeUnknown(err):
		c.Outcome = Unknown
	default:
		c.Outcome = Failed
	}
	return c
}

// allowedFrom is what a stage seen now allows at the end.
func allowedFrom(s order.Stage) []order.Stage {
	switch {
	case s.Final():
		return []order.Stage{s}
	case s == order.StagePostClosure:
		return []order.Stage{order.StagePermanentlyClosed, order.StageReopened}
	default:
		return nil
	}
}

// outcomeUnknown reports an error after which the caller cannot tell whether
// the request took effect: a timeout, or a service it could not reach.
func outcomeUnknown(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		canceled    *serviceerror.Canceled
		updateWait  *client.WorkflowUpdateServiceTimeoutOrCanceledError
	)
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &canceled) || errors.As(err, &updateWait)
}

// drain waits until no order of the run is still running, or until the deadline.
func (r *runner) drain(ctx context.Context, deadline time.Time) bool {
	pending := slices.Clone(r.runs)
	for {
		var still []*orderRun
		for _, o := range pending {
			callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			d, err := r.c.DescribeWorkflowExecution(callCtx, order.WorkflowID(o.order.OrderID), "")
			cancel()
			var nf *serviceerror.NotFound
			switch {
			case errors.As(err, &nf):
			case err != nil, d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
				still = append(still, o)
			}
		}
		if len(still) == 0 {
			return true
		}
		if time.Now().After(deadline) || sleep(ctx, time.Second) != nil {
			return false
		}
		pending = still
	}
}
