package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainJSONAndAcked(t *testing.T) {
	srv := newFakeReceiver(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ackedFile := filepath.Join(dir, "acked.txt")
	var stdout, stderr bytes.Buffer
	err := Main(context.Background(), []string{
		"-url", srv.URL + "/hooks/prolific", "-secret-file", secretFile, "-count", "30",
		"-connections", "3", "-json", "-acked", ackedFile,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Main: %v (stderr %s)", err, stderr.String())
	}
	var rep struct {
		Requests    int64            `json:"requests"`
		OK          int64            `json:"ok"`
		StatusCodes map[string]int64 `json:"status_codes"`
		Latency     map[string]float64
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Requests != 30 || rep.OK != 30 || rep.StatusCodes["200"] != 30 {
		t.Errorf("report requests=%d ok=%d codes=%v, want 30 30 {200:30}", rep.Requests, rep.OK, rep.StatusCodes)
	}
	if _, ok := rep.Latency["p99_9_ms"]; !ok {
		t.Errorf("latency %v has no p99_9_ms", rep.Latency)
	}
	b, err := os.ReadFile(ackedFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(string(b))); got != 30 {
		t.Errorf("acked file has %d IDs, want 30", got)
	}
	if strings.Contains(stdout.String()+stderr.String(), testSecret) {
		t.Error("output contains the secret")
	}
}

func TestMainTable(t *testing.T) {
	srv := newFakeReceiver(t)
	t.Setenv(SecretEnv, testSecret)
	var stdout, stderr bytes.Buffer
	if err := Main(context.Background(), []string{"-url", srv.URL, "-count", "10", "-rate", "100"}, &stdout, &stderr); err != nil {
		t.Fatalf("Main: %v", err)
	}
	for _, want := range []string{"open loop at 100/s", "p99.9", "status 200", "throughput"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), testSecret) {
		t.Error("output contains the secret")
	}
}

func TestMainRefuses(t *testing.T) {
	t.Setenv(SecretEnv, testSecret)
	tests := []struct {
		name    string
		args    []string
		wantErr error // nil: any error
	}{
		{"remote", []string{"-url", "http://192.0.2.1:8080/hooks/prolific", "-count", "1"}, ErrNotLoopback},
		{"unbounded", []string{"-duration", "0"}, ErrUnbounded},
		{"stray args", []string{"extra"}, nil},
		{"bad flag", []string{"-nope"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Main(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Main(%q) = %v, want error %v", tc.args, err, tc.wantErr)
			}
			if strings.Contains(err.Error()+stderr.String(), testSecret) {
				t.Error("error or stderr contains the secret")
			}
		})
	}
}

func TestMainNoSecret(t *testing.T) {
	t.Setenv(SecretEnv, "")
	var stdout, stderr bytes.Buffer
	err := Main(context.Background(), []string{"-count", "1"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), SecretEnv) {
		t.Errorf("Main without secret = %v, want an error naming %s", err, SecretEnv)
	}
}

func TestMainHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	t.Setenv(SecretEnv, testSecret)
	if err := Main(context.Background(), []string{"-h"}, &stdout, &stderr); err != nil {
		t.Errorf("Main(-h) = %v, want nil", err)
	}
	if !strings.Contains(stderr.String(), "Usage: receiver loadgen") {
		t.Errorf("usage text missing:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), testSecret) {
		t.Error("usage shows the secret")
	}
}

// TestCommandsHelpAndStrayArguments: each loadgen command prints its own
// usage and flags for -h without failing; those that take no arguments
// refuse one, naming it.
func TestCommandsHelpAndStrayArguments(t *testing.T) {
	t.Setenv(SecretEnv, testSecret)
	for _, tc := range []struct {
		cmd   []string
		usage string
		flag  string
	}{
		{nil, "Usage: receiver loadgen [flags]", "-secret-file"},
		{[]string{"presign"}, "Usage: receiver loadgen presign", "-secret-file"},
		{[]string{"check"}, "Usage: receiver loadgen check", "-acked"},
	} {
		var stdout, stderr bytes.Buffer
		if err := Main(context.Background(), append(tc.cmd, "-h"), &stdout, &stderr); err != nil {
			t.Errorf("Main(%q -h) = %v, want nil", tc.cmd, err)
		}
		if out := stderr.String(); !strings.HasPrefix(out, tc.usage) || !strings.Contains(out, "\n  "+tc.flag) {
			t.Errorf("Main(%q -h) printed:\n%s\nwant %q, then the flags (%s among them)", tc.cmd, out, tc.usage, tc.flag)
		}
	}
	for _, cmd := range [][]string{{"stray"}, {"presign", "-count", "1", "-out", filepath.Join(t.TempDir(), "p"), "stray"}} {
		err := Main(context.Background(), cmd, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), `unexpected arguments ["stray"]`) {
			t.Errorf("Main(%q) = %v, want the stray argument refused", cmd, err)
		}
	}
}
