package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDSNWithoutServer runs a test calling DSN in a child process with no
// DSN set: it skips normally and fails when PostgreSQL is required.
func TestDSNWithoutServer(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		DSN(t)
		return
	}
	tests := []struct {
		name     string
		require  string
		wantFail bool
		wantOut  string
	}{
		{"optional", "", false, "SKIP"},
		{"required", "1", true, EnvRequire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDSNWithoutServer$", "-test.v")
			cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", EnvDSN+"=", EnvRequire+"="+tc.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("child failed = %v (%v), want %v; output:\n%s", failed, err, tc.wantFail, out)
			}
			if !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("child output lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
}
