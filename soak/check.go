package soak

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/cloudmarket/termination-orders/codec"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/store"
)

// Results is a soak's outcome on every server; the JSON output is this.
type Results struct {
	Orders         int      `json:"ordersPerServer"`
	Workers        int      `json:"workers"`
	WindowSec      float64  `json:"reopenWindowSeconds"`
	StoreOutageSec float64  `json:"storeOutageSeconds"`
	CallTimeoutSec float64  `json:"callTimeoutSeconds"`
	Runs           []Result `json:"runs"`
	// Pass: every target met on every server.
	Pass bool `json:"pass"`
}

// Result is one server's run.
type Result struct {
	Server      string          `json:"server"`
	Orders      int             `json:"orders"`
	Paths       map[string]int  `json:"ordersByPath"`
	FinalStages map[string]int  `json:"finalStages"`
	Faults      Faults          `json:"faults"`
	Calls       map[Outcome]int `json:"calls"`

	// The targets: each must be 0.
	Lost               int `json:"lost"`
	Doubled            int `json:"doubled"`
	Early              int `json:"early"`
	Stuck              int `json:"stuck"`
	WrongAnswers       int `json:"wrongAnswers"`
	WorkflowTaskFailed int `json:"workflowTaskFailedEvents"`
	InputsInClear      int `json:"inputsInClear"` // orders whose history holds their input unencrypted
	// Notifications are the webhooks' events; their misses are targets too.
	Notifications Notifications `json:"notifications"`

	// What the wrong answers were.
	Wrong struct {
		ToldYesButNo int `json:"toldSuccessForWhatDidNotHappen"`
		ToldNoButYes int `json:"toldNoForWhatHappened"`
		ErrorAnswers int `json:"errorAnswers"`
		LateAnswers  int `json:"answeredAfterTimeout"`
	} `json:"wrong"`
	WorkflowTaskFailedCauses map[string]int `json:"workflowTaskFailedCauses,omitempty"`
	WorkflowTaskTimeouts     int            `json:"workflowTaskTimeouts"`

	// StoreRecoverySec is, per store outage, how long after the store came
	// back the last message held back by it was stored.
	StoreRecoverySec []float64 `json:"storeRecoverySeconds"`
	// ServerRestartSec is, per server kill, how long until it served again.
	ServerRestartSec []float64 `json:"serverRestartSeconds"`
	DurationSec      float64   `json:"durationSeconds"`
	// Findings name each miss, with its order (the first 100).
	Findings []string `json:"findings"`
	Pass     bool     `json:"pass"`
}

// Faults counts what was injected.
type Faults struct {
	WorkerKills     int `json:"workerKills"`
	WorkerCrashes   int `json:"workerExitsOnTheirOwn"`
	ServerKills     int `json:"temporalServerKills"`
	StoreCuts       int `json:"storeCuts"`
	StoreBlackHoles int `json:"storeBlackHoles"`
}

const maxFindings = 100

func (res *Result) finding(format string, args ...any) {
	if len(res.Findings) < maxFindings {
		res.Findings = append(res.Findings, fmt.Sprintf(format, args...))
	}
}

// lateGrace is how much past its timeout a call may return before it counts as late.
const lateGrace = 2 * time.Second

// check checks every order through the Temporal API and the status store.
func (r *runner) check(ctx context.Context) (Result, error) {
	res := Result{Server: r.kind, Orders: len(r.runs), Paths: map[string]int{}, FinalStages: map[string]int{},
		Calls: map[Outcome]int{}, WorkflowTaskFailedCauses: map[string]int{}, Findings: []string{}}
	r.mu.Lock()
	res.Faults = r.faults
	outages := slices.Clone(r.outages)
	for _, d := range r.restarts {
		res.ServerRestartSec = append(res.ServerRestartSec, d.Seconds())
	}
	r.mu.Unlock()
	var stored []store.Message
	for _, o := range r.runs {
		res.Paths[o.path]++
		msgs, err := r.checkOrder(ctx, o, &res)
		if err != nil {
			return Result{}, err
		}
		stored = append(stored, msgs...)
	}
	for _, o := range outages {
		res.StoreRecoverySec = append(res.StoreRecoverySec, recovery(stored, o.back).Seconds())
	}
	res.WrongAnswers = res.Wrong.ToldYesButNo + res.Wrong.ToldNoButYes + res.Wrong.ErrorAnswers + res.Wrong.LateAnswers
	if r.receiver != nil {
		r.receiver.totals(&res)
	}
	return res, nil
}

// recovery is how long after back the last message that occurred before it
// was stored.
func recovery(msgs []store.Message, back time.Time) time.Duration {
	var last time.Duration
	for _, m := range msgs {
		if m.OccurredAt.Before(back) && m.RecordedAt.After(back) {
			last = max(last, m.RecordedAt.Sub(back))
		}
	}
	return last
}

// orderState is what Temporal holds of an order at the end.
type orderState struct {
	found     bool
	running   bool
	status    order.Status
	statusErr error
	runID     string
	closeTime time.Time
	// pending describes the activities a running order waits on.
	pending []string
}

func (r *runner) checkOrder(ctx context.Context, o *orderRun, res *Result) ([]store.Message, error) {
	id := o.order.OrderID
	o.mu.Lock()
	calls := slices.Clone(o.calls)
	o.mu.Unlock()

	state, err := r.orderState(ctx, id, res)
	if err != nil {
		return nil, err
	}
	msgs, err := r.st.Timeline(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	told := false
	for _, c := range calls {
		res.Calls[c.Outcome]++
		told = told || c.Exists && c.Outcome == Success
	}
	if !state.found {
		if told {
			res.Lost++
			res.finding("lost: order %s (%s) was started (the caller was told so) but Temporal has no such order", id, o.path)
		}
		if len(msgs) > 0 {
			res.Doubled++
			res.finding("doubled: order %s has %d stored messages but no workflow", id, len(msgs))
		}
		return msgs, nil
	}
	final := state.status.Stage
	if state.statusErr != nil {
		final = ""
	}
	res.FinalStages[string(final)]++
	if state.running {
		res.Stuck++
		res.finding("stuck: order %s (%s) still running after the drain, stage %q %s; pending activities %v; stored %s; calls %s",
			id, o.path, final, errText(state.statusErr), state.pending, storedSummary(msgs), callSummary(calls))
	}

	for _, c := range calls {
		checkAnswer(res, o, c, final, state.running, r.opts.CallTimeout)
	}
	if state.statusErr == nil {
		checkMessages(res, id, state, msgs)
		checkWindow(res, id, state, msgs, r.opts.Window)
		if !state.running && r.receiver != nil {
			r.receiver.checkNotifications(res, id, final, msgs)
		}
	}
	return msgs, nil
}

func storedSummary(msgs []store.Message) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, fmt.Sprintf("%d %s at %s", m.Seq, m.Stage, m.RecordedAt.Format("15:04:05.000")))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// callSummary is the calls of an order, runs of the same answer folded.
func callSummary(calls []Call) string {
	var parts []string
	for i := 0; i < len(calls); {
		j := i
		for j < len(calls) && calls[j].Kind == calls[i].Kind && calls[j].Outcome == calls[i].Outcome && calls[j].Again == calls[i].Again {
			j++
		}
		c := calls[i]
		part := fmt.Sprintf("%s %s %s", c.Began.Format("15:04:05.000"), c.Kind, c.Outcome)
		if c.Again {
			part += " (ask again)"
		}
		if j-i > 1 {
			part += fmt.Sprintf(" x%d until %s", j-i, calls[j-1].Began.Format("15:04:05"))
		}
		parts = append(parts, part)
		i = j
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

func (r *runner) orderState(ctx context.Context, id string, res *Result) (orderState, error) {
	wid := order.WorkflowID(id)
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := r.c.DescribeWorkflowExecution(callCtx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return orderState{}, nil
	}
	if err != nil {
		return orderState{}, fmt.Errorf("describe %s: %w", wid, err)
	}
	info := d.GetWorkflowExecutionInfo()
	st := orderState{found: true, runID: info.GetExecution().GetRunId(),
		running: info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}
	if info.GetCloseTime() != nil {
		st.closeTime = info.GetCloseTime().AsTime()
	}
	for _, a := range d.GetPendingActivities() {
		st.pending = append(st.pending, fmt.Sprintf("%s attempt %d %s, last failure %q", a.GetActivityType().GetName(), a.GetAttempt(),
			a.GetState().String(), failureMessage(r.dc, a.GetLastFailure())))
	}
	if st.running {
		st.status, st.statusErr = r.orders.Status(callCtx, id)
	} else {
		st.statusErr = r.c.GetWorkflow(callCtx, wid, st.runID).Get(callCtx, &st.status)
	}
	it := r.c.GetWorkflowHistory(callCtx, wid, st.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var seen []string // event types so far, to show what led to a failed task
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return orderState{}, fmt.Errorf("history of %s: %w", wid, err)
		}
		seen = append(seen, strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_"))
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			checkInput(res, id, e)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			cause := e.GetWorkflowTaskFailedEventAttributes().GetCause().String()
			res.WorkflowTaskFailed++
			res.WorkflowTaskFailedCauses[cause]++
			res.finding("workflow task failed: order %s, event %d, cause %s: %s; events before it: %s", id, e.GetEventId(), cause,
				failureMessage(r.dc, e.GetWorkflowTaskFailedEventAttributes().GetFailure()), strings.Join(seen[max(0, len(seen)-12):len(seen)-1], ", "))
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			res.WorkflowTaskTimeouts++
		}
	}
	return st, nil
}

// failureMessage is the first line of a failure's message, decrypted with dc:
// with encryption on, history only says "Encoded failure".
func failureMessage(dc converter.DataConverter, f *failurepb.Failure) string {
	if f == nil {
		return ""
	}
	f = proto.CloneOf(f)
	converter.DecodeCommonFailureAttributes(dc, f)
	return firstLine(f.GetMessage())
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// checkAnswer checks one call's answer against the order's real end.
func checkAnswer(res *Result, o *orderRun, c Call, final order.Stage, running bool, timeout time.Duration) {
	id := o.order.OrderID
	if c.Took > timeout+lateGrace {
		res.Wrong.LateAnswers++
		res.finding("late: order %s (%s): %s answered after %s (timeout %s)", id, o.path, c.Kind, c.Took.Round(time.Millisecond), timeout)
	}
	if c.Outcome == Failed {
		res.Wrong.ErrorAnswers++
		res.finding("error answer: order %s (%s): %s: %s", id, o.path, c.Kind, c.Error)
		return
	}
	if final == "" || (len(c.Allowed) == 0 || consistent(final, running, c.Allowed)) && final != c.Forbidden {
		return
	}
	if c.Outcome == Success {
		res.Wrong.ToldYesButNo++
		res.finding("told success for what did not happen: order %s (%s): %s succeeded, but the order ended %s", id, o.path, c.Kind, final)
		return
	}
	res.Wrong.ToldNoButYes++
	res.finding("told no, wrongly: order %s (%s): %s was rejected (%s), but the order ended %s", id, o.path, c.Kind, c.Error, final)
}

// consistent: the final stage is one the answer allowed, or, for an order
// still running, on its way to one.
func consistent(final order.Stage, running bool, allowed []order.Stage) bool {
	if slices.Contains(allowed, final) {
		return true
	}
	return running && final == order.StagePostClosure &&
		(slices.Contains(allowed, order.StagePermanentlyClosed) || slices.Contains(allowed, order.StageReopened))
}

// checkMessages: every timeline entry of the order is stored exactly once, by
// its own run, and nothing else is.
func checkMessages(res *Result, id string, state orderState, msgs []store.Message) {
	bySeq := map[int][]store.Message{}
	for _, m := range msgs {
		bySeq[m.Seq] = append(bySeq[m.Seq], m)
	}
	for _, e := range state.status.Timeline {
		got := bySeq[e.Seq]
		delete(bySeq, e.Seq)
		switch {
		case len(got) == 0:
			res.Lost++
			res.finding("lost: order %s: message %d (%s) never stored", id, e.Seq, e.Stage)
		case len(got) > 1:
			res.Doubled++
			res.finding("doubled: order %s: message %d (%s) stored %d times", id, e.Seq, e.Stage, len(got))
		case got[0].Stage != e.Stage || got[0].Text != e.Message || got[0].RunID != state.runID:
			res.Doubled++
			res.finding("doubled: order %s: message %d stored as %s by run %s, but the order's is %s of run %s",
				id, e.Seq, got[0].Stage, got[0].RunID, e.Stage, state.runID)
		}
	}
	for seq, extra := range bySeq {
		res.Doubled++
		res.finding("doubled: order %s: message %d (%s) stored but not in the order's timeline", id, seq, extra[0].Stage)
	}
}

// checkInput: the order's input, as the raw history's started event holds
// it, is encrypted. An order's input is never empty, so no payload at all
// proves nothing and counts too.
func checkInput(res *Result, id string, started *historypb.HistoryEvent) {
	var encodings []string
	for _, p := range started.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads() {
		encodings = append(encodings, string(p.GetMetadata()[converter.MetadataEncoding]))
	}
	if len(encodings) > 0 && !slices.ContainsFunc(encodings, func(e string) bool { return e != codec.MetadataEncoding }) {
		return
	}
	res.InputsInClear++
	res.finding("input in clear: order %s: event %d's input has encodings %q, want all %s",
		id, started.GetEventId(), encodings, codec.MetadataEncoding)
}

// checkWindow: closed for good at or after the order's own deadline, never
// before; reopened only before it; and the deadline where the window puts it.
func checkWindow(res *Result, id string, state orderState, msgs []store.Message, window time.Duration) {
	s := state.status
	if s.ClosedAt.IsZero() {
		return
	}
	if want := s.ClosedAt.Add(window); !s.ReopenDeadline.Equal(want) {
		res.Early++
		res.finding("early: order %s: deadline %s, but closed at %s plus the %s window is %s",
			id, s.ReopenDeadline.Format(time.RFC3339Nano), s.ClosedAt.Format(time.RFC3339Nano), window, want.Format(time.RFC3339Nano))
	}
	for _, m := range msgs {
		switch {
		// The store keeps microseconds.
		case m.Stage == order.StagePermanentlyClosed && m.OccurredAt.Before(s.ReopenDeadline.Truncate(time.Microsecond)):
			res.Early++
			res.finding("early: order %s closed for good at %s, before its deadline %s",
				id, m.OccurredAt.Format(time.RFC3339Nano), s.ReopenDeadline.Format(time.RFC3339Nano))
		case m.Stage == order.StageReopened && !m.OccurredAt.Before(s.ReopenDeadline):
			res.Early++
			res.finding("window breached: order %s reopened at %s, at or after its deadline %s",
				id, m.OccurredAt.Format(time.RFC3339Nano), s.ReopenDeadline.Format(time.RFC3339Nano))
		}
	}
	if s.Stage == order.StagePermanentlyClosed && !state.closeTime.IsZero() && state.closeTime.Before(s.ReopenDeadline) {
		res.Early++
		res.finding("early: order %s: its workflow closed at %s, before its deadline %s",
			id, state.closeTime.Format(time.RFC3339Nano), s.ReopenDeadline.Format(time.RFC3339Nano))
	}
}
