package main

import (
	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapLogger hands certmagic (which logs with zap) a logger writing to log,
// so its lines have the receiver's format, level and fields. Its errors
// are logged as warnings: each failure that matters is logged once as an
// error by acmeTLS.onEvent, with what the operator should know.
func zapLogger(log zerolog.Logger) *zap.Logger {
	return zap.New(&zapCore{log: log})
}

// zapCore is a zapcore.Core over a zerolog.Logger.
type zapCore struct {
	log    zerolog.Logger
	fields []zapcore.Field
}

func zerologLevel(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	default:
		return zerolog.WarnLevel
	}
}

func (c *zapCore) Enabled(l zapcore.Level) bool {
	return zerologLevel(l) >= c.log.GetLevel() && zerologLevel(l) >= zerolog.GlobalLevel()
}

func (c *zapCore) With(fields []zapcore.Field) zapcore.Core {
	return &zapCore{log: c.log, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c *zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	ev := c.log.WithLevel(zerologLevel(e.Level))
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c *zapCore) Sync() error { return nil }
