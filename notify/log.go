package notify

import (
	"context"

	"go.uber.org/zap"
)

// logTarget stands in for an audience with no destinations in a demo: it
// shows what would be sent without sending it. It logs the notice's
// identifying fields only: never its data, which may be addressed to systems
// that are not the log's readers.
type logTarget struct {
	audience Audience
	logger   *zap.Logger
}

func newLogTarget(a Audience, logger *zap.Logger) *logTarget {
	return &logTarget{audience: a, logger: logger}
}

// Name implements Target.
func (l *logTarget) Name() string { return string(l.audience) + ".log" }

// Send implements Target; it never fails.
func (l *logTarget) Send(_ context.Context, n Notice) error {
	l.logger.Info("notification (log only; no target configured)",
		zap.String("audience", string(l.audience)),
		zap.String("kind", n.Kind),
		zap.String("id", n.ID),
		zap.String("orderId", n.OrderID),
		zap.String("subject", n.Subject),
	)
	return nil
}
