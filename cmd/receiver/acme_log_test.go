package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/zap"

	"github.com/prolific-receiver/receiver/internal/testkit"
)

// TestZapLogger: certmagic's zap lines come out as the receiver's zerolog
// JSON lines, with their fields, errors lowered to warnings (the receiver
// logs each failure once itself), and below the level nothing.
func TestZapLogger(t *testing.T) {
	out := new(testkit.SyncBuffer)
	zl := zapLogger(zerolog.New(out).Level(zerolog.InfoLevel).With().Str("component", "acme").Logger())
	zl.Named("renew").With(zap.String("identifier", "hooks.lab.example")).Error("could not get certificate", zap.Int("attempt", 2))
	zl.Info("lock acquired")
	zl.Debug("not shown")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (the debug line dropped):\n%s", len(lines), out.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("line 1 is not JSON: %v", err)
	}
	want := map[string]any{"level": "warn", "component": "acme", "logger": "renew",
		"identifier": "hooks.lab.example", "attempt": float64(2), "message": "could not get certificate"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("line 1 %s = %v, want %v (line %s)", k, first[k], v, lines[0])
		}
	}
	if !strings.Contains(lines[1], `"level":"info"`) || !strings.Contains(lines[1], `"message":"lock acquired"`) {
		t.Errorf("line 2 = %s, want an info line", lines[1])
	}
}
