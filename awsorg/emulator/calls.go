package emulator

import (
	"slices"
	"time"

	"github.com/cloudmarket/termination-orders/awsorg"
)

// Call is one request the emulator answered, refused ones included.
type Call struct {
	Op Op
	// AccountID is the call's AccountId; empty for the organization's
	// operations.
	AccountID string
	// Start is when the request arrived, End when its answer was written
	// (the emulator's clock, which Advance moves).
	Start, End time.Time
	// Status is the answer's HTTP status.
	Status int
	// Error and Reason are the answer's __type and Reason; empty on success.
	Error, Reason string
	// State is the account's state after the call: the one DescribeAccount
	// reported, PENDING_CLOSURE after an accepted CloseAccount.
	State awsorg.State
	// AccessKeyID signed the request; Role is the role whose session it
	// was, or the role AssumeRole was asked for.
	AccessKeyID, Role string
}

// OK reports whether the call succeeded.
func (c Call) OK() bool { return c.Error == "" }

// CallLog is calls in the order they arrived.
type CallLog []Call

// Calls are every call so far, in the order they arrived.
func (e *Emulator) Calls() CallLog {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// ResetCalls forgets the calls so far.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = nil
}

func (e *Emulator) record(c Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, c)
}

// Of are the calls of op on the account; an empty accountID matches every
// account.
func (l CallLog) Of(op Op, accountID string) CallLog {
	var out CallLog
	for _, c := range l {
		if c.Op == op && (accountID == "" || c.AccountID == accountID) {
			out = append(out, c)
		}
	}
	return out
}

// Succeeded are the calls that succeeded.
func (l CallLog) Succeeded() CallLog {
	var out CallLog
	for _, c := range l {
		if c.OK() {
			out = append(out, c)
		}
	}
	return out
}

// Overlapping returns two calls that were in flight at the same time, if
// any: a limit of one call at a time held only if it finds none.
func (l CallLog) Overlapping() (Call, Call, bool) {
	sorted := l.byStart()
	var latest Call // of the calls so far, the one that ended last
	for i, c := range sorted {
		if i > 0 && c.Start.Before(latest.End) {
			return latest, c, true
		}
		if i == 0 || c.End.After(latest.End) {
			latest = c
		}
	}
	return Call{}, Call{}, false
}

// MinGap is the shortest time between the starts of two consecutive calls;
// 0 for fewer than two calls.
func (l CallLog) MinGap() time.Duration {
	sorted := l.byStart()
	var gap time.Duration
	for i := 1; i < len(sorted); i++ {
		if d := sorted[i].Start.Sub(sorted[i-1].Start); i == 1 || d < gap {
			gap = d
		}
	}
	return gap
}

func (l CallLog) byStart() CallLog {
	sorted := slices.Clone(l)
	slices.SortStableFunc(sorted, func(a, b Call) int { return a.Start.Compare(b.Start) })
	return sorted
}
