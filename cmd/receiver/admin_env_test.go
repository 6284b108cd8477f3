package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
	"github.com/prolific-receiver/receiver/internal/testkit"
)

func TestDefaultAdminURL(t *testing.T) {
	for _, tc := range []struct{ addr, want, from string }{
		{"", builtinAdminURL, "built in (RECEIVER_ADMIN_ADDR is unset)"},
		{"127.0.0.1:9191", "http://127.0.0.1:9191", "derived from RECEIVER_ADMIN_ADDR=127.0.0.1:9191"},
		{":9191", "http://127.0.0.1:9191", "derived from RECEIVER_ADMIN_ADDR=:9191"},
		{"0.0.0.0:9191", "http://127.0.0.1:9191", "derived from RECEIVER_ADMIN_ADDR=0.0.0.0:9191"},
		{"[::]:9191", "http://[::1]:9191", "derived from RECEIVER_ADMIN_ADDR=[::]:9191"},
		{"[::1]:9191", "http://[::1]:9191", "derived from RECEIVER_ADMIN_ADDR=[::1]:9191"},
		{"[fd00::5]:9191", "http://[fd00::5]:9191", "derived from RECEIVER_ADMIN_ADDR=[fd00::5]:9191"},
		{"[fe80::1%eth0]:9191", "http://[fe80::1%25eth0]:9191", "derived from RECEIVER_ADMIN_ADDR=[fe80::1%eth0]:9191"},
		{"receiver-admin:9191", "http://receiver-admin:9191", "derived from RECEIVER_ADMIN_ADDR=receiver-admin:9191"},
		{"9191", builtinAdminURL, `built in (RECEIVER_ADMIN_ADDR="9191" is not host:port)`},
		{"127.0.0.1:", builtinAdminURL, `built in (RECEIVER_ADMIN_ADDR="127.0.0.1:" is not host:port)`},
	} {
		url, from := defaultAdminURL(tc.addr)
		if url != tc.want || from != tc.from {
			t.Errorf("defaultAdminURL(%q) = %q, %q; want %q, %q", tc.addr, url, from, tc.want, tc.from)
		}
	}
}

// -h says where -admin-url's default came from.
func TestAdminURLUsageSaysWhere(t *testing.T) {
	for _, env := range []struct{ addr, want string }{
		{"", `built in (RECEIVER_ADMIN_ADDR is unset) (default "http://127.0.0.1:9090")`},
		{"0.0.0.0:9393", `derived from RECEIVER_ADMIN_ADDR=0.0.0.0:9393 (default "http://127.0.0.1:9393")`},
	} {
		t.Setenv("RECEIVER_ADMIN_ADDR", env.addr)
		for _, cmd := range []string{"reconcile", "events", "studies", "outputs"} {
			var out bytes.Buffer
			err := run(context.Background(), []string{"receiver", cmd, "-h"}, &out, &out)
			if err != nil && err != flag.ErrHelp {
				t.Fatalf("%s -h: %v", cmd, err)
			}
			if !strings.Contains(out.String(), env.want) {
				t.Errorf("RECEIVER_ADMIN_ADDR=%q receiver %s -h:\n%s\nwant %q", env.addr, cmd, out.String(), env.want)
			}
		}
	}
}

// adminEnvReceiver runs a receiver, configured from the environment as in
// its container, whose admin listener is adminAddr; Prolific is a fake.
// It returns the receiver's webhook URL and the ID of an event it stored.
func adminEnvReceiver(t *testing.T, adminAddr string) (eventID, studyID string) {
	t.Helper()
	const token, workspace, secret = "admin-env-api-token", "0000000000000000000000a1", "admin-env-secret"
	fake := prolifictest.New(prolifictest.Options{Tokens: []string{token}, Workspaces: []string{workspace},
		Secrets: map[string]string{workspace: secret}})
	fake.Start()
	t.Cleanup(fake.Close)
	pub := freeAddr(t)
	for k, v := range map[string]string{
		"RECEIVER_LISTEN_ADDR": pub, "RECEIVER_ADMIN_ADDR": adminAddr,
		"RECEIVER_STORE":          "sqlite:" + filepath.Join(t.TempDir(), "r.db"),
		"PROLIFIC_WEBHOOK_SECRET": secret, "PROLIFIC_API_TOKEN": token, "PROLIFIC_WORKSPACE_ID": workspace,
		"PROLIFIC_API_URL": fake.URL(), "RECEIVER_PUBLIC_URL": "", "RECEIVER_ADMIN_TOKEN": "admin-env-token",
		"RECEIVER_OUTPUTS_FILE": "", "RECEIVER_RULES_FILE": "",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := new(testkit.SyncBuffer)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"receiver", "serve"}, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		waitStopped(t, errc, "receiver", 30*time.Second)
	})
	host, port, _ := net.SplitHostPort(adminAddr)
	waitReady(t, "http://"+net.JoinHostPort(host, port), errc)

	studyID = "6650a1b2c3d4e5f6aaaa00e1"
	o := sendOptions{url: "http://" + pub + "/hooks/prolific", secret: secret, timeout: 5 * time.Second,
		eventType: prolific.EventStudyStatusChange, resourceID: studyID, status: "ACTIVE"}
	if code, body, err := send(ctx, http.DefaultClient, &o); err != nil || code != http.StatusOK {
		t.Fatalf("send: %d %s %v", code, body, err)
	}
	return o.eventID, studyID
}

// adminCommandsFromEnv runs every admin subcommand with neither -admin-url
// nor -token, RECEIVER_ADMIN_ADDR set to each of addrs: each must reach
// the receiver and show what it holds.
func adminCommandsFromEnv(t *testing.T, eventID, studyID string, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		t.Setenv("RECEIVER_ADMIN_ADDR", addr)
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"events"}, `"event_id":"` + eventID + `"`},
			{[]string{"studies", "-json"}, studyID},
			{[]string{"outputs", "-json", "list"}, "["},
			{[]string{"reconcile"}, "pages read"},
		} {
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := run(ctx, append([]string{"receiver"}, tc.args...), &out, &errOut)
			cancel()
			if err != nil {
				t.Errorf("RECEIVER_ADMIN_ADDR=%s receiver %s: %v\n%s", addr, strings.Join(tc.args, " "), err, errOut.String())
				continue
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("RECEIVER_ADMIN_ADDR=%s receiver %s printed:\n%s\nwant %q in it", addr, strings.Join(tc.args, " "), out.String(), tc.want)
			}
		}
	}
}

// Run in the receiver's own environment, `receiver reconcile`, `events`,
// `studies` and `outputs` find its admin listener on a random port from
// RECEIVER_ADMIN_ADDR alone, in each of its forms.
func TestAdminCommandsFindReceiverFromEnv(t *testing.T) {
	adm := freeAddr(t)
	_, port, _ := net.SplitHostPort(adm)
	eventID, studyID := adminEnvReceiver(t, adm)
	adminCommandsFromEnv(t, eventID, studyID, adm, ":"+port, "0.0.0.0:"+port)
}

// The same with the admin listener on IPv6 loopback.
func TestAdminCommandsFindReceiverFromEnvIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine (%v): the IPv6 forms are covered by TestDefaultAdminURL only", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	eventID, studyID := adminEnvReceiver(t, "[::1]:"+port)
	adminCommandsFromEnv(t, eventID, studyID, "[::1]:"+port, "[::]:"+port)
}
