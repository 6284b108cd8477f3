package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	t.Setenv("RECEIVER_ADMIN_ADDR", strings.TrimPrefix(srv.URL, "http://"))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"receiver", "healthcheck"}, &out, &out); err != nil {
		t.Fatalf("healthcheck of a ready receiver: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := run(context.Background(), []string{"receiver", "healthcheck"}, &out, &out); err == nil || exitCode(err) != 1 {
		t.Fatalf("healthcheck of a draining receiver = %v, want exit 1", err)
	}
	for addr, want := range map[string]string{
		"":              "127.0.0.1:9090",
		":9090":         "127.0.0.1:9090",
		"0.0.0.0:9191":  "127.0.0.1:9191",
		"10.1.2.3:9090": "10.1.2.3:9090",
		"[::]:9090":     "127.0.0.1:9090",
	} {
		if got := adminHostPort(addr); got != want {
			t.Errorf("adminHostPort(%q) = %q, want %q", addr, got, want)
		}
	}
}
