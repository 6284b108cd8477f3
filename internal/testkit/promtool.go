package testkit

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// PromtoolCheck runs `promtool check metrics` over exposition (the text
// format, as /metrics serves it) and fails the test on any problem it
// reports. Without promtool (Debian package prometheus) it skips the check,
// except in CI, which installs it.
func PromtoolCheck(t testing.TB, exposition io.Reader) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not installed but CI is set: .ci/run installs Debian's prometheus package")
		}
		t.Log("promtool not installed (Debian package prometheus): promtool check metrics skipped")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = exposition
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
