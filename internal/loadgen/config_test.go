package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestConfigTargets(t *testing.T) {
	tests := []struct {
		url         string
		allowRemote bool
		wantErr     error // nil: accepted
	}{
		{"http://127.0.0.1:8080/hooks/prolific", false, nil},
		{"http://127.1.2.3:8080/hooks/prolific", false, nil},
		{"http://localhost:8080/hooks/prolific", false, nil},
		{"http://[::1]:8080/hooks/prolific", false, nil},
		{"https://127.0.0.1/hooks/prolific", false, nil},
		{"http://example.com/hooks/prolific", false, ErrNotLoopback},
		{"http://10.0.0.1:8080/hooks/prolific", false, ErrNotLoopback},
		{"http://0.0.0.0:8080/hooks/prolific", false, ErrNotLoopback},
		{"http://localhost.example.com/", false, ErrNotLoopback},
		{"http://example.com/hooks/prolific", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := Config{Targets: []string{tc.url}, Secret: "s", Count: 1, AllowRemote: tc.allowRemote}.withDefaults()
			if tc.wantErr == nil && err != nil {
				t.Errorf("withDefaults() = %v, want accepted", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("withDefaults() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestConfigRefuses(t *testing.T) {
	ok := Config{Targets: []string{"http://127.0.0.1:1/"}, Secret: "s", Duration: time.Second}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"unbounded", func(c *Config) { c.Duration, c.Count = 0, 0 }},
		{"no secret", func(c *Config) { c.Secret = "" }},
		{"no target", func(c *Config) { c.Targets = nil }},
		{"bad scheme", func(c *Config) { c.Targets = []string{"ftp://127.0.0.1/"} }},
		{"duplicates 1", func(c *Config) { c.Duplicates = 1 }},
		{"negative rate", func(c *Config) { c.Rate = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			if _, err := Run(context.Background(), c); err == nil {
				t.Errorf("Run(%s) = nil error, want refusal", tc.name)
			}
		})
	}
	if _, err := Run(context.Background(), Config{Targets: ok.Targets, Secret: "s"}); !errors.Is(err, ErrUnbounded) {
		t.Errorf("Run(no limits) = %v, want ErrUnbounded", err)
	}
}
