package logging

import (
	"go.uber.org/zap/zapcore"

	"github.com/cloudmarket/termination-orders/order"
)

// orderIDCore adds OrderID to every line that names a termination order's
// workflow but not its order, such as the SDK's own lines about timers and
// tasks, so that filtering logs by order finds all of them.
type orderIDCore struct {
	zapcore.Core
	workflowID string // from context fields
	hasOrderID bool
}

func withOrderIDs(core zapcore.Core) zapcore.Core { return &orderIDCore{Core: core} }

func (c *orderIDCore) With(fields []zapcore.Field) zapcore.Core {
	next := *c
	next.Core = c.Core.With(fields)
	next.note(fields)
	return &next
}

func (c *orderIDCore) note(fields []zapcore.Field) {
	for _, f := range fields {
		switch f.Key {
		case "OrderID":
			c.hasOrderID = true
		case "WorkflowID":
			c.workflowID = f.String
		}
	}
}

func (c *orderIDCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *orderIDCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	line := *c
	line.note(fields)
	if id, ok := order.ParseWorkflowID(line.workflowID); ok && !line.hasOrderID {
		fields = append(fields, zapcore.Field{Key: "OrderID", Type: zapcore.StringType, String: id})
	}
	return c.Core.Write(e, fields)
}
