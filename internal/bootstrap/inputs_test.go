package bootstrap

import (
	"errors"
	"strings"
	"testing"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

func TestRunBadInputs(t *testing.T) {
	tests := []struct {
		name       string
		token      string
		cfg        Config
		wantIn     []string // substrings of the error
		wantIs     error
		wantNoCall bool // nothing may reach Prolific
	}{
		{
			name: "bad token", token: "wrong-token", cfg: cfg(),
			wantIn: []string{"PROLIFIC_API_TOKEN was rejected by Prolific (401): check the token"},
			wantIs: prolific.ErrUnauthorized,
		},
		{
			name: "unknown workspace", token: token, cfg: Config{WorkspaceID: "bbbbbbbbbbbbbbbbbbbbbbbb", PublicURL: publicURL},
			wantIn: []string{"PROLIFIC_WORKSPACE_ID", "bbbbbbbbbbbbbbbbbbbbbbbb"},
			wantIs: prolific.ErrNotFound,
		},
		{
			name: "empty workspace", token: token, cfg: Config{PublicURL: publicURL},
			wantIn: []string{"PROLIFIC_WORKSPACE_ID"}, wantNoCall: true,
		},
		{
			name: "http URL", token: token, cfg: Config{WorkspaceID: workspace, PublicURL: "http://receiver.example.com/hooks/prolific"},
			wantIn: []string{"RECEIVER_PUBLIC_URL", "https://"}, wantNoCall: true,
		},
		{
			name: "empty URL", token: token, cfg: Config{WorkspaceID: workspace},
			wantIn: []string{"RECEIVER_PUBLIC_URL"}, wantNoCall: true,
		},
		{
			name: "localhost URL", token: token, cfg: Config{WorkspaceID: workspace, PublicURL: "https://localhost:8443/hooks/prolific"},
			wantIn: []string{"RECEIVER_PUBLIC_URL", "local"}, wantNoCall: true,
		},
		{
			name: "loopback URL", token: token, cfg: Config{WorkspaceID: workspace, PublicURL: "https://127.0.0.1/hooks/prolific"},
			wantIn: []string{"RECEIVER_PUBLIC_URL"}, wantNoCall: true,
		},
		{
			name: "missing event type", token: token,
			cfg:    Config{WorkspaceID: workspace, PublicURL: publicURL, EventTypes: []string{"study.status.change", "study.bogus", "participant.joined"}},
			wantIn: []string{"study.bogus, participant.joined", "available: ", prolific.EventSubmissionStatusChange, "RECEIVER_EVENT_TYPES"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, prolifictest.Options{})
			_, err := Run(t.Context(), e.client(tc.token), tc.cfg, e.logger())
			if err == nil {
				t.Fatal("Run error = nil, want one")
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.wantIs)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), tc.token) {
				t.Errorf("error %q contains the token", err)
			}
			reqs := e.requests()
			if tc.wantNoCall && len(reqs) != 0 {
				t.Errorf("requests = %v, want none", reqs)
			}
			if m := e.mutations(); len(m) != 0 {
				t.Errorf("mutating calls = %v, want none", m)
			}
		})
	}
}

func TestTargetURL(t *testing.T) {
	tests := []struct {
		in       string
		insecure bool
		want     string // "" means an error
	}{
		{"https://r.example.com/hooks/prolific", false, "https://r.example.com/hooks/prolific"},
		{"https://r.example.com", false, "https://r.example.com/hooks/prolific"},
		{"https://r.example.com/", false, "https://r.example.com/hooks/prolific"},
		{"https://r.example.com:8443/custom/path", false, "https://r.example.com:8443/custom/path"},
		{"  https://r.example.com/x  ", false, "https://r.example.com/x"},
		{"http://r.example.com/x", false, ""},
		{"ftp://r.example.com/x", true, ""},
		{"https:///x", false, ""},
		{"https://user:pw@r.example.com/x", false, ""},
		{"https://r.example.com/x#frag", false, ""},
		{"https://localhost/x", false, ""},
		{"https://app.localhost/x", false, ""},
		{"https://[::1]/x", false, ""},
		{"https://10.0.0.5/x", false, ""},
		{"https://0.0.0.0/x", false, ""},
		{"https://8.8.8.8/x", false, "https://8.8.8.8/x"},
		{"http://127.0.0.1:9999/hooks/prolific", true, "http://127.0.0.1:9999/hooks/prolific"},
		{"::not a url", false, ""},
	}
	for _, tc := range tests {
		got, err := TargetURL(Config{PublicURL: tc.in, AllowInsecureURL: tc.insecure})
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), "RECEIVER_PUBLIC_URL") {
				t.Errorf("TargetURL(%q) = %q, %v, want an error naming RECEIVER_PUBLIC_URL", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("TargetURL(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRunNilClient(t *testing.T) {
	if _, err := Run(t.Context(), nil, cfg(), newEnv(t, prolifictest.Options{}).logger()); err == nil || !strings.Contains(err.Error(), "PROLIFIC_API_TOKEN") {
		t.Errorf("Run(nil client) error = %v, want one naming PROLIFIC_API_TOKEN", err)
	}
}
