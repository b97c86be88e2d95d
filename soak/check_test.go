package soak

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

func TestClassify(t *testing.T) {
	rejected := &starter.RejectedError{OrderID: "ORD-1", Reason: "no"}
	for _, tc := range []struct {
		kind    string
		status  order.Status
		err     error
		want    Outcome
		allowed []order.Stage
	}{
		{"unlink", order.Status{}, nil, Success, []order.Stage{order.StagePermanentlyClosed, order.StageReopened}},
		{"cancel", order.Status{}, nil, Success, []order.Stage{order.StageCancelled}},
		{"reopen", order.Status{}, nil, Success, []order.Stage{order.StageReopened}},
		{"unlink", order.Status{}, fmt.Errorf("%w: repeat", starter.ErrAlreadyUnlinked), Rejected, []order.Stage{order.StagePermanentlyClosed, order.StageReopened}},
		{"unlink", order.Status{}, rejected, Rejected, []order.Stage{order.StageCancelled, order.StageFailed}},
		{"cancel", order.Status{Stage: order.StagePostClosure}, rejected, Rejected, []order.Stage{order.StagePermanentlyClosed, order.StageReopened}},
		{"cancel", order.Status{Stage: order.StageCancelled}, rejected, Rejected, []order.Stage{order.StageCancelled}},
		{"reopen", order.Status{Stage: order.StagePostClosure}, fmt.Errorf("%w", starter.ErrClosedForGood), Rejected, []order.Stage{order.StagePermanentlyClosed}},
		{"reopen", order.Status{Stage: order.StageAwaitingUnlink}, rejected, Rejected, nil},
		{"cancel", order.Status{}, fmt.Errorf("cancel order ORD-1: %w", context.DeadlineExceeded), Unknown, nil},
		{"unlink", order.Status{}, serviceerror.NewUnavailable("connection refused"), Unknown, nil},
		{"cancel", order.Status{}, errors.New("unexpected workflow task failure"), Failed, nil},
		{"status", order.Status{}, serviceerror.NewInternal("query failed"), Failed, nil},
	} {
		c := classify(tc.kind, "ORD-1", tc.status, tc.err)
		if c.Outcome != tc.want || fmt.Sprint(c.Allowed) != fmt.Sprint(tc.allowed) {
			t.Errorf("classify(%s, %s, %v) = %s %v; want %s %v", tc.kind, tc.status.Stage, tc.err, c.Outcome, c.Allowed, tc.want, tc.allowed)
		}
	}
	unknown := &starter.OutcomeUnknownError{OrderID: "ORD-1", Request: "cancel", RequestID: "r-1", Cause: context.DeadlineExceeded}
	if c := classify("cancel", "ORD-1", order.Status{}, unknown); c.Outcome != Unknown {
		t.Errorf("outcome unknown: %+v", c)
	}
	refusedForNow := &starter.RejectedError{OrderID: "ORD-1", Kind: order.RefusedNotAcceptedYet, Reason: "ask again"}
	if c := classify("cancel", "ORD-1", order.Status{}, refusedForNow); c.Outcome != Rejected || !c.Again || c.Forbidden != "" {
		t.Errorf("refused for now: %+v", c)
	}
	notYet := fmt.Errorf("read status of order ORD-1: %w", order.NotAcceptedYet("ORD-1"))
	if c := classify("unlink", "ORD-1", order.Status{}, notYet); c.Outcome != Rejected || !c.Again || c.Allowed != nil {
		t.Errorf("an order still being accepted: %+v", c)
	}
	if c := classify("start", "ORD-1", order.Status{}, fmt.Errorf("%w: again", starter.ErrOrderExists)); !c.Exists {
		t.Errorf("a start refused as existing does not say the order exists: %+v", c)
	}
}

// The race the soak exists to catch: the unlink and the cancel both told
// success, and the order ended Cancelled.
func TestBothWinnersOfTheRaceAreAWrongAnswer(t *testing.T) {
	o := &orderRun{order: order.Order{OrderID: "ORD-1"}, path: PathRace}
	var res Result
	for _, c := range []Call{classify("unlink", "ORD-1", order.Status{}, nil), classify("cancel", "ORD-1", order.Status{}, nil)} {
		checkAnswer(&res, o, c, order.StageCancelled, false, time.Second)
	}
	if res.Wrong.ToldYesButNo != 1 || len(res.Findings) != 1 {
		t.Fatalf("wrong answers %+v, findings %q", res.Wrong, res.Findings)
	}

	res = Result{}
	rejectedCancel := classify("cancel", "ORD-1", order.Status{Stage: order.StageCancelled}, &starter.RejectedError{OrderID: "ORD-1", Reason: "already cancelled"})
	checkAnswer(&res, o, rejectedCancel, order.StagePermanentlyClosed, false, time.Second)
	if res.Wrong.ToldNoButYes != 1 {
		t.Fatalf("a rejection that said Cancelled for an order that closed: %+v", res.Wrong)
	}

	// A cancel refused while the order went on to be cancelled anyway.
	res = Result{}
	checkAnswer(&res, o, classify("cancel", "ORD-1", order.Status{}, &starter.RejectedError{OrderID: "ORD-1", Reason: "no"}), order.StageCancelled, false, time.Second)
	if res.Wrong.ToldNoButYes != 1 {
		t.Fatalf("a refused cancel of an order that ended Cancelled: %+v", res.Wrong)
	}

	res = Result{}
	late := classify("reopen", "ORD-1", order.Status{}, nil)
	late.Took = 5 * time.Second
	checkAnswer(&res, o, late, order.StageReopened, false, time.Second)
	checkAnswer(&res, o, classify("status", "ORD-1", order.Status{}, errors.New("query failed")), order.StageReopened, false, time.Second)
	if res.Wrong.LateAnswers != 1 || res.Wrong.ErrorAnswers != 1 || res.Wrong.ToldYesButNo != 0 {
		t.Fatalf("late and error answers: %+v", res.Wrong)
	}
	// An unknown outcome says nothing, and a running order on its way is fine.
	res = Result{}
	checkAnswer(&res, o, classify("cancel", "ORD-1", order.Status{}, context.DeadlineExceeded), order.StagePermanentlyClosed, false, time.Second)
	checkAnswer(&res, o, classify("unlink", "ORD-1", order.Status{}, nil), order.StagePostClosure, true, time.Second)
	if res.Wrong != (Result{}).Wrong {
		t.Fatalf("no wrong answer expected: %+v %q", res.Wrong, res.Findings)
	}
}

func TestMessagesStoredExactlyOnce(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var s order.Status
	s.Enter(order.StageAwaitingUnlink, at, "submitted")
	s.Enter(order.StagePostClosure, at.Add(time.Second), "closed")
	s.Enter(order.StagePermanentlyClosed, at.Add(4*time.Second), "for good")
	state := orderState{found: true, runID: "run-1", status: s}
	msg := func(e order.TimelineEntry, run string) store.Message {
		return store.Message{OrderID: "ORD-1", RunID: run, Seq: e.Seq, Stage: e.Stage, Text: e.Message, OccurredAt: e.Time}
	}
	tl := s.Timeline

	var res Result
	checkMessages(&res, "ORD-1", state, []store.Message{msg(tl[0], "run-1"), msg(tl[1], "run-1"), msg(tl[2], "run-1")})
	if res.Lost != 0 || res.Doubled != 0 {
		t.Fatalf("a complete timeline: lost %d doubled %d %q", res.Lost, res.Doubled, res.Findings)
	}
	res = Result{}
	checkMessages(&res, "ORD-1", state, []store.Message{msg(tl[0], "run-1"), msg(tl[2], "run-1")})
	if res.Lost != 1 || res.Doubled != 0 {
		t.Fatalf("message 2 missing: lost %d doubled %d", res.Lost, res.Doubled)
	}
	res = Result{}
	checkMessages(&res, "ORD-1", state, []store.Message{msg(tl[0], "run-1"), msg(tl[1], "run-1"), msg(tl[1], "run-2"), msg(tl[2], "run-1"),
		{OrderID: "ORD-1", RunID: "run-1", Seq: 4, Stage: order.StageReopened, Text: "x", OccurredAt: at}})
	if res.Lost != 0 || res.Doubled != 2 {
		t.Fatalf("message 2 twice and a 4th: lost %d doubled %d %q", res.Lost, res.Doubled, res.Findings)
	}
}

func TestClosedForGoodNeverBeforeTheDeadline(t *testing.T) {
	closed := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	window := 5 * time.Second
	status := func(final order.Stage) order.Status {
		return order.Status{Stage: final, ClosedAt: closed, ReopenDeadline: closed.Add(window)}
	}
	at := func(stage order.Stage, d time.Duration) store.Message {
		return store.Message{Seq: 3, Stage: stage, OccurredAt: closed.Add(d)}
	}
	for _, tc := range []struct {
		name      string
		final     order.Stage
		msg       store.Message
		closeTime time.Duration
		early     int
	}{
		{"closed at the deadline", order.StagePermanentlyClosed, at(order.StagePermanentlyClosed, window), window, 0},
		{"closed after it", order.StagePermanentlyClosed, at(order.StagePermanentlyClosed, window+time.Second), window + time.Second, 0},
		{"message before the deadline", order.StagePermanentlyClosed, at(order.StagePermanentlyClosed, window-time.Millisecond), window, 1},
		{"workflow closed before the deadline", order.StagePermanentlyClosed, at(order.StagePermanentlyClosed, window), window - time.Millisecond, 1},
		{"reopened inside the window", order.StageReopened, at(order.StageReopened, window-time.Millisecond), window, 0},
		{"reopened at the deadline", order.StageReopened, at(order.StageReopened, window), window, 1},
	} {
		var res Result
		state := orderState{found: true, status: status(tc.final), closeTime: closed.Add(tc.closeTime)}
		checkWindow(&res, "ORD-1", state, []store.Message{tc.msg}, window)
		if res.Early != tc.early {
			t.Errorf("%s: early = %d, want %d %q", tc.name, res.Early, tc.early, res.Findings)
		}
	}
	var res Result
	moved := status(order.StagePermanentlyClosed)
	moved.ReopenDeadline = moved.ReopenDeadline.Add(-time.Second)
	checkWindow(&res, "ORD-1", orderState{found: true, status: moved}, nil, window)
	if res.Early != 1 {
		t.Errorf("a deadline a second short of the window: early = %d", res.Early)
	}
}

func TestRecoveryIsTheLastHeldBackMessage(t *testing.T) {
	back := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	msgs := []store.Message{
		{OccurredAt: back.Add(-10 * time.Second), RecordedAt: back.Add(-10 * time.Second)}, // before the outage
		{OccurredAt: back.Add(-5 * time.Second), RecordedAt: back.Add(1500 * time.Millisecond)},
		{OccurredAt: back.Add(-1 * time.Second), RecordedAt: back.Add(4 * time.Second)},
		{OccurredAt: back.Add(time.Second), RecordedAt: back.Add(9 * time.Second)}, // after it
	}
	if got := recovery(msgs, back); got != 4*time.Second {
		t.Fatalf("recovery = %s, want 4s", got)
	}
}

// With encryption on, as the soak runs, every order's input is ciphertext in
// the raw history; an input in clear, even in part, is a finding.
func TestOrderInputMustBeEncrypted(t *testing.T) {
	key, err := codec.NewKey("soak")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.NewKeyRing(key.ID, key)
	if err != nil {
		t.Fatal(err)
	}
	dc := codec.DataConverter(codec.New(ring))
	plain := converter.GetDefaultDataConverter()
	input := order.Order{OrderID: "ORD-1", RequestedBy: "soak@example.com"}
	started := func(dc converter.DataConverter, values ...any) *historypb.HistoryEvent {
		t.Helper()
		ps, err := dc.ToPayloads(values...)
		if err != nil {
			t.Fatal(err)
		}
		return &historypb.HistoryEvent{EventId: 1, EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
			Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
				WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{Input: ps}}}
	}
	mixed := started(dc, input)
	mixed.GetWorkflowExecutionStartedEventAttributes().Input.Payloads = append(mixed.GetWorkflowExecutionStartedEventAttributes().Input.Payloads,
		started(plain, input).GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()...)
	for _, tc := range []struct {
		name    string
		started *historypb.HistoryEvent
		inClear int
	}{
		{"encrypted", started(dc, input), 0},
		{"in clear", started(plain, input), 1},
		{"one payload of two in clear", mixed, 1},
		{"no input at all", started(dc), 1},
	} {
		var res Result
		checkInput(&res, "ORD-1", tc.started)
		if res.InputsInClear != tc.inClear || len(res.Findings) != tc.inClear {
			t.Errorf("%s: inputs in clear %d, want %d; findings %q", tc.name, res.InputsInClear, tc.inClear, res.Findings)
		}
		if strings.Contains(strings.Join(res.Findings, " "), "soak@example.com") {
			t.Errorf("%s: a finding quotes the input: %q", tc.name, res.Findings)
		}
	}
}

// Findings quote failures from history in clear, although history holds
// them encrypted, and the event they came from is left as it was.
func TestFailureMessagesAreDecrypted(t *testing.T) {
	key, err := codec.NewKey("soak")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := codec.NewKeyRing(key.ID, key)
	if err != nil {
		t.Fatal(err)
	}
	c := codec.New(ring)
	dc := codec.DataConverter(c)
	f := codec.FailureConverter(c, dc).ErrorToFailure(errors.New("status store: connection refused\nsecond line"))
	if f.GetMessage() == "status store: connection refused\nsecond line" {
		t.Fatalf("the failure is in clear: %q", f.GetMessage())
	}
	encoded := f.GetMessage()
	if got := failureMessage(dc, f); got != "status store: connection refused" {
		t.Errorf("failureMessage = %q", got)
	}
	if f.GetMessage() != encoded {
		t.Errorf("the history's failure was changed to %q", f.GetMessage())
	}
	if got := failureMessage(dc, nil); got != "" {
		t.Errorf("no failure: %q", got)
	}
}
