// Package logging builds the zap logger every command uses, and the bridge
// that makes the Temporal SDK log through it.
package logging

import (
	"log/slog"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// Options shape a logger.
type Options struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is json, or console for a person watching.
	Format string
}

// New builds a zap logger.
func New(cfg Options) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	// Production settings in both formats: sampling, stack traces only on
	// errors, and none for a person watching, to whom a stack says nothing.
	zc := zap.NewProductionConfig()
	if cfg.Format == "console" {
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Encoding = cfg.Format
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}

// ForTemporal adapts a zap logger into the SDK's logger through zap's own slog
// handler, so the SDK's lines (with WorkflowID, RunID, ActivityType) come out
// as structured zap fields, each line about an order with its OrderID.
func ForTemporal(z *zap.Logger) log.Logger {
	return log.NewStructuredLogger(slog.New(zapslog.NewHandler(withOrderIDs(z.Core()))))
}
