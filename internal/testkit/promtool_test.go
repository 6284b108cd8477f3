package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPromtoolCheck runs PromtoolCheck against a stand-in promtool that
// complains about any exposition mentioning "bad_metric", as the real one
// complains about a problem (output and a non-zero exit).
func TestPromtoolCheck(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1 $2\" = \"check metrics\" ] || exit 3\nif grep -q bad_metric; then echo 'bad_metric: counter metrics should have \"_total\" suffix'; exit 1; fi\n"
	if err := os.WriteFile(filepath.Join(dir, "promtool"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("CI", "")
	for _, tc := range []struct {
		exposition string
		wantErr    bool
	}{
		{"# TYPE good_total counter\ngood_total 1\n", false},
		{"# TYPE bad_metric counter\nbad_metric 1\n", true},
	} {
		rec := &fatalTB{TB: t}
		msgs := rec.run(func(tb testing.TB) { PromtoolCheck(tb, strings.NewReader(tc.exposition)) })
		if got := len(msgs) > 0; got != tc.wantErr {
			t.Errorf("PromtoolCheck(%q) reported %q, want an error: %v", tc.exposition, msgs, tc.wantErr)
		}
	}
}
