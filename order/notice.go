package order

// The kinds of notice an order's life sends, as they appear in every
// notification's "type". The workflow decides which goes when; package notify
// carries them.
const (
	// NoticeStatus tells the marketplace an order has a new status message.
	NoticeStatus = "order.status"
	// NoticeUnlinkRequested is Operations' work item: unlink the account.
	NoticeUnlinkRequested = "operations.unlink_requested"
	// NoticeUnlinkOverdue escalates an unlink not confirmed within its SLA;
	// its reminders have the same kind and a reminder number above 0.
	NoticeUnlinkOverdue = "operations.unlink_overdue"
	// NoticeReopenRequested is Operations' work item: reopen the account with AWS.
	NoticeReopenRequested = "operations.reopen_requested"
	// NoticeUnlinkCancelled tells Operations the unlink work item needs no action.
	NoticeUnlinkCancelled = "operations.unlink_cancelled"
	// NoticeAWSAttention is Operations' work item when AWS and the order
	// disagree or AWS holds a closure up: an unlink reported while AWS
	// reports the account ACTIVE, a close quota or limit, the management
	// account, an account ACTIVE at its deadline, a reopen AWS has not made.
	NoticeAWSAttention = "operations.aws_attention"
)
