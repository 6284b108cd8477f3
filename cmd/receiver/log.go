package main

import (
	"fmt"
	"io"
	stdlog "log"
	"time"

	"github.com/rs/zerolog"
)

// newLogger builds the process logger from RECEIVER_LOG_LEVEL and RECEIVER_LOG_FORMAT.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("RECEIVER_LOG_LEVEL: unknown level %q (use debug, info, warn or error)", level)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// zerologStd adapts the logger for net/http's ErrorLog (TLS handshake errors and the like).
func zerologStd(l zerolog.Logger) *stdlog.Logger {
	return stdlog.New(l.With().Str("source", "http").Logger(), "", 0)
}
