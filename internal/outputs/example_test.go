package outputs

import (
	"os"
	"testing"
)

// TestExampleFiles: the example outputs files in deploy/ are valid as they
// are, given their variables.
func TestExampleFiles(t *testing.T) {
	vars := env(map[string]string{"FORWARD_URL": "http://lab-consumer:8088/prolific", "FORWARD_SECRET": testSecret, "NATS_URL": "nats://nats:4222"})
	for _, path := range []string{"../../deploy/outputs.example.yaml", "../../deploy/compose/outputs.demo.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := Parse(data, vars)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(outs) == 0 || outs[0].Type != "http" {
			t.Errorf("%s: outputs = %+v, want an HTTP output first", path, outs)
		}
	}
	// The demo's secret is a valid one too.
	if _, err := DecodeSecret("whsec_ZGVtby1mb3J3YXJkLXNlY3JldC1rZXktMzItYnl0ZXM="); err != nil {
		t.Errorf("demo secret: %v", err)
	}
}
