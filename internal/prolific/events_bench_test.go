package prolific

import "testing"

// BenchmarkDecode decodes each documented event type from a body as
// Prolific sends it (Python json.dumps spacing).
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"submission", `{"resource_id": "60a3f1f0c7e4f3a1b2c3d4e5", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a697887766554", "status": "AWAITING REVIEW"}`},
		{"study_status", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.status.change", "metadata": {"reason": "manual"}, "status": "PAUSED"}`},
		{"study_progress", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.progress.change"}`},
		{"unknown", `{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.something.new", "extra": [1, 2, 3]}`},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reads a submission event as the webhook handler does.
func BenchmarkRead(b *testing.B) {
	body := []byte(`{"resource_id": "60a3f1f0c7e4f3a1b2c3d4e5", "event_type": "submission.status.change", "participant_id": "5f1e2d3c4b5a697887766554", "status": "AWAITING REVIEW"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(body); err != nil {
			b.Fatal(err)
		}
	}
}
