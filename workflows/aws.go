package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/termination-orders/activities"
	"github.com/cloudmarket/termination-orders/order"
)

// AWS Organizations as the source of truth (an order accepted in the verify
// or close mode; the mode is fixed at the acceptance, so an order accepted in
// the off mode, or before AWS was asked at all, never asks it):
//
//   - verify: an unlink report is taken only when AWS agrees the account is
//     closed. An update is refused while AWS reports it ACTIVE; a raw signal,
//     which cannot be refused, waits, asks AWS again on a bounded backoff and
//     tells Operations that their report and AWS disagree.
//   - close: the report means "ready to close"; the order calls CloseAccount
//     (on the close task queue, which the server rate-limits across every
//     worker), follows the account until AWS reports it SUSPENDED and starts
//     the reopen window then.
//   - both: at the reopen deadline the order says "closed for good" only if
//     AWS does not report the account ACTIVE, and after a customer's reopen
//     it follows AWS until the account is ACTIVE again.

// changeAWSOrganizations is the change ID of the AWS path (release 1.2).
const changeAWSOrganizations = "aws-organizations"

// closeStartToClose bounds one CloseAWSAccount attempt.
const closeStartToClose = 30 * time.Second

// onAWS reports whether the order asks AWS: its acceptance fixed an AWS mode
// and the order takes the patched path.
func (w *terminationOrder) onAWS(ctx workflow.Context) bool {
	if w.aws.Mode == activities.AWSOff {
		return false
	}
	if !w.awsVersioned {
		w.awsVersioned = true
		w.awsPatched = workflow.GetVersion(ctx, changeAWSOrganizations, workflow.DefaultVersion, 1) == 1
	}
	return w.awsPatched
}

// checkAWS asks AWS for the account's state and keeps the answer.
func (w *terminationOrder) checkAWS(ctx workflow.Context) order.AWSCheck {
	var c order.AWSCheck
	in := activities.AWSAccountInput{OrderID: w.status.OrderID, AccountID: w.order.AccountID}
	// A step retries until AWS answers: an order never guesses AWS's state.
	if err := w.decide(ctx, activities.CheckAWSAccountName, in, &c, nil); err != nil {
		w.logger.Error("AWS account state not checked", "Error", err)
		return order.AWSCheck{}
	}
	w.keepAWS(ctx, c)
	return c
}

func (w *terminationOrder) keepAWS(ctx workflow.Context, c order.AWSCheck) {
	w.status.Checked(c)
	w.logger.Info("AWS answered", "Operation", c.Operation, "AWSState", c.State, "Outcome", c.Outcome)
	workflow.SetCurrentDetails(ctx, w.details())
}

// enterOnAWS is enter for a change that rests on AWS's answer c, which its
// timeline entry keeps.
func (w *terminationOrder) enterOnAWS(ctx workflow.Context, c order.AWSCheck, stage order.Stage, message, requestID string, workItems ...activities.Announcement) {
	w.onAnswer = &c
	w.enter(ctx, stage, message, requestID, workItems...)
}

// attention sends Operations an AWS work item.
func (w *terminationOrder) attention(ctx workflow.Context, reason, subject, detail string, c order.AWSCheck) {
	w.awsNotices[reason]++
	w.logger.Warn("AWS needs Operations' attention", "Reason", reason, "AWSState", c.State, "Outcome", c.Outcome)
	w.send(ctx, activities.Announcement{Kind: order.NoticeAWSAttention, AWS: &activities.AWSAttention{
		Reason: reason, N: w.awsNotices[reason], Subject: subject, Detail: detail, Check: c,
	}})
}

// reportedUnlink takes Operations' valid unlink report (u, closing the
// account at closedAt) the way the order's mode says. An update's refusal,
// if any, is returned; a signal cannot be refused and waits for AWS instead.
func (w *terminationOrder) reportedUnlink(ctx workflow.Context, u UnlinkCompleted, closedAt time.Time, bySignal bool) error {
	decide := func(apply func()) {
		if bySignal {
			apply()
		} else {
			w.asUpdate(apply)
		}
	}
	if !w.onAWS(ctx) {
		decide(func() { w.applyUnlink(ctx, u, closedAt) })
		return nil
	}
	if w.aws.Mode == activities.AWSClose {
		decide(func() { w.readyToClose(ctx, u) })
		return nil
	}
	w.deciding++
	c := w.checkAWS(ctx)
	w.deciding--
	if err := w.status.CheckUnlink(); err != nil {
		return err // decided meanwhile by another report
	}
	if order.AWSClosed(c.State) {
		decide(func() { w.applyUnlinkOn(ctx, u, closedAt, c) })
		return nil
	}
	if !bySignal {
		w.logger.Warn("Unlink refused: AWS reports the account active", "AWSState", c.State)
		return w.status.RefuseActiveAccount(c)
	}
	if !w.awaitingAWS {
		w.awaitingAWS = true
		steady, _ := workflow.NewDisconnectedContext(ctx)
		workflow.Go(steady, func(ctx workflow.Context) { w.awaitAWSAgreement(ctx, u, c) })
	}
	return nil
}

// awaitAWSAgreement follows an unlink signal that AWS disagreed with: it
// tells Operations, asks AWS again on a bounded backoff, and takes the unlink
// once AWS agrees, closing the account at the time AWS first did. A cancel
// or another report meanwhile ends the wait.
func (w *terminationOrder) awaitAWSAgreement(ctx workflow.Context, u UnlinkCompleted, first order.AWSCheck) {
	defer func() { w.awaitingAWS = false }()
	w.attention(ctx, "unlink-while-active", "Your unlink report and AWS disagree",
		fmt.Sprintf("Operations reported AWS account %s unlinked (ref. %s), but AWS reports it %s. The order waits and asks AWS again; "+
			"close the account in AWS, or cancel the order if it must not be closed.", w.order.AccountID, u.Reference, first.State), first)
	waiting := func() bool { return w.status.Stage != order.StageAwaitingUnlink }
	for interval := w.aws.CheckInterval; ; interval = min(2*interval, w.aws.MaxCheckInterval) {
		summary := fmt.Sprintf("Ask AWS again whether account %s is closed", w.order.AccountID)
		if elapsed, err := sleep(ctx, interval, summary, waiting); err != nil || !elapsed {
			return
		}
		w.deciding++
		c := w.checkAWS(ctx)
		w.deciding--
		if w.status.Stage != order.StageAwaitingUnlink {
			return
		}
		if order.AWSClosed(c.State) {
			w.applyUnlinkOn(ctx, u, c.At, c)
			return
		}
	}
}

// applyUnlinkOn is applyUnlink for an unlink AWS agreed with (c).
func (w *terminationOrder) applyUnlinkOn(ctx workflow.Context, u UnlinkCompleted, closedAt time.Time, c order.AWSCheck) {
	w.onAnswer = &c
	w.applyUnlink(ctx, u, closedAt)
}

// readyToClose takes Operations' confirmation that the account is ready to
// close, and closes it with AWS.
func (w *terminationOrder) readyToClose(ctx workflow.Context, u UnlinkCompleted) {
	w.unlink = u
	w.logger.Info("Account ready to close; closing it with AWS", "Reference", u.Reference, "RequestID", u.RequestID)
	w.enter(ctx, order.StageClosing, order.ClosingMessage(w.status), u.RequestID)
	steady, _ := workflow.NewDisconnectedContext(ctx)
	workflow.Go(steady, w.closeWithAWS)
}

// closeWithAWS asks AWS to close the account, once, then follows it until
// AWS reports it SUSPENDED, and starts the reopen window from then.
func (w *terminationOrder) closeWithAWS(ctx workflow.Context) {
	opts := workflow.ActivityOptions{
		TaskQueue:           w.aws.CloseTaskQueue,
		StartToCloseTimeout: closeStartToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: w.aws.CheckInterval, BackoffCoefficient: 2, MaximumInterval: w.aws.MaxCheckInterval,
		},
	}
	in := activities.AWSAccountInput{OrderID: w.status.OrderID, AccountID: w.order.AccountID}
	never := func() bool { return false }
	for {
		var c order.AWSCheck
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activities.CloseAWSAccountName, in).Get(ctx, &c); err != nil {
			w.logger.Error("AWS closure not requested", "Error", err)
			return
		}
		w.keepAWS(ctx, c)
		switch c.Outcome {
		case activities.CloseQuotaExceeded, activities.CloseRequestsLimitExceeded:
			w.attention(ctx, "close-quota", "AWS holds a closure back",
				fmt.Sprintf("AWS refused to close account %s for now (%s). The order tries again at %s; nothing was closed twice or lost.",
					w.order.AccountID, c.Outcome, order.FormatTime(workflow.Now(ctx).Add(w.aws.QuotaWait))), c)
			_, _ = sleep(ctx, w.aws.QuotaWait, fmt.Sprintf("AWS's close quota: close account %s again", w.order.AccountID), never)
			continue
		case activities.CloseManagementAccount:
			w.attention(ctx, "management-account", "Close the management account by hand",
				fmt.Sprintf("AWS account %s is the organization's management account, which the API cannot close. "+
					"Close it in the AWS console; the order follows AWS and starts the reopen window once AWS reports it suspended.", w.order.AccountID), c)
		}
		break
	}
	for interval := w.aws.CheckInterval; ; interval = min(2*interval, w.aws.MaxCheckInterval) {
		c := w.checkAWS(ctx)
		switch c.State {
		case "SUSPENDED", "CLOSED", order.AWSStateNotInOrganization:
			w.closedByAWS(ctx, c)
			return
		}
		_, _ = sleep(ctx, interval, fmt.Sprintf("Follow the closure of AWS account %s (%s)", w.order.AccountID, c.State), never)
	}
}

// closedByAWS starts the reopen window from the moment AWS reported the
// account closed (c).
func (w *terminationOrder) closedByAWS(ctx workflow.Context, c order.AWSCheck) {
	w.status.ClosedAt = c.At.UTC()
	w.status.ReopenDeadline = w.status.ClosedAt.Add(w.window)
	w.logger.Info("AWS closed the account", "AWSState", c.State, "ClosedAt", w.status.ClosedAt, "ReopenDeadline", w.status.ReopenDeadline)
	workflow.GetMetricsHandler(ctx).Timer(MetricUnlinkWait).Record(workflow.Now(ctx).Sub(w.status.Timeline[0].Time))
	w.enterOnAWS(ctx, c, order.StagePostClosure, order.PostClosureMessage(w.status), "")
}

// closeForGood ends the reopen window: closed for good, unless AWS reports
// the account ACTIVE (it was reopened outside this order), which the order
// records and tells Operations instead of claiming a closure.
func (w *terminationOrder) closeForGood(ctx workflow.Context) {
	if !w.onAWS(ctx) {
		w.enter(ctx, order.StagePermanentlyClosed, order.PermanentlyClosedMessage(w.status), "")
		return
	}
	c := w.checkAWS(ctx)
	if c.State != order.AWSStateActive {
		w.enterOnAWS(ctx, c, order.StagePermanentlyClosed, order.PermanentlyClosedMessage(w.status), "")
		return
	}
	w.logger.Warn("AWS reports the account active at its deadline: reopened outside the order; no closure claimed")
	w.reopenedByAWS = true
	w.enterOnAWS(ctx, c, order.StageReopened, order.ReopenedOutsideMessage(w.status, c), "")
	w.attention(ctx, "active-at-deadline", "AWS reports a closed account active",
		fmt.Sprintf("The reopen window of AWS account %s ended on %s, but AWS reports the account ACTIVE: it was reopened outside this order "+
			"(through AWS Support). The order did not close it for good and ended as reopened; check who reopened it.",
			w.order.AccountID, order.FormatTime(w.status.ReopenDeadline)), c)
}

// followReopen follows a customer's reopen with AWS: Operations reopen the
// account through AWS Support, and the order asks AWS until it reports the
// account ACTIVE, or tells Operations when AWS's own deadline passed first.
func (w *terminationOrder) followReopen(ctx workflow.Context) {
	if !w.onAWS(ctx) {
		return
	}
	deadline := w.status.ClosedAt.Add(order.AWSPostClosurePeriod)
	never := func() bool { return false }
	for interval := w.aws.CheckInterval; ; interval = min(2*interval, w.aws.MaxCheckInterval) {
		c := w.checkAWS(ctx)
		if c.State == order.AWSStateActive {
			return
		}
		left := deadline.Sub(workflow.Now(ctx))
		if left <= 0 {
			w.attention(ctx, "not-reopened", "AWS has not reopened a reopened account",
				fmt.Sprintf("The customer reopened AWS account %s, but AWS still reports it %s and its own post-closure period ended on %s: "+
					"AWS Support can no longer reopen it.", w.order.AccountID, c.State, order.FormatTime(deadline)), c)
			return
		}
		_, _ = sleep(ctx, min(interval, left), fmt.Sprintf("Wait for AWS to reopen account %s (%s)", w.order.AccountID, c.State), never)
	}
}

// awsDetails is the AWS part of the Web UI's details.
func (w *terminationOrder) awsDetails() string {
	if w.aws.Mode == activities.AWSOff {
		return ""
	}
	d := fmt.Sprintf("\n\nAWS Organizations (%s mode)", w.aws.Mode)
	if len(w.status.AWS) == 0 {
		return d + ": not asked yet"
	}
	d += ", latest answers:"
	for i := len(w.status.AWS) - 1; i >= 0 && i >= len(w.status.AWS)-3; i-- {
		d += "\n- " + w.status.AWS[i].String()
	}
	return d
}
