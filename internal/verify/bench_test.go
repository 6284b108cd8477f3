package verify

import (
	"fmt"
	"strings"
	"testing"
)

// body1KiB returns a JSON object of about 1 KiB in Python's default style
// (so the raw form matches) and its compact form (so only the Python form
// does).
func body1KiB() (python, compact []byte) {
	var b strings.Builder
	b.WriteString(`{"resource_id": "6650a1b2c3d4e5f601234567", "event_type": "study.status.change", "metadata": {`)
	for i := 0; b.Len() < 1000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"key_%02d": ["value %d caf\u00e9", %d, true, null]`, i, i, i*1000)
	}
	b.WriteString(`}, "status": "ACTIVE"}`)
	python = []byte(b.String())
	c, err := Compact(python)
	if err != nil {
		panic(err)
	}
	return python, c
}

func BenchmarkVerifyRaw1KiB(b *testing.B) {
	body, _ := body1KiB()
	sig := Sign(vecSecret, vecTimestamp, body)
	secrets := []string{vecSecret, "previous-secret"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(sig, vecTimestamp, body, secrets, vecTime, DefaultTolerance); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPythonFallback1KiB(b *testing.B) {
	python, compact := body1KiB()
	sig := Sign(vecSecret, vecTimestamp, python)
	secrets := []string{vecSecret, "previous-secret"}
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Verify(sig, vecTimestamp, compact, secrets, vecTime, DefaultTolerance)
		if err != nil || res.Form != FormPython {
			b.Fatalf("Verify() = %v, %v; want form %s", res.Form, err, FormPython)
		}
	}
}

func BenchmarkPythonDumps1KiB(b *testing.B) {
	_, compact := body1KiB()
	b.SetBytes(int64(len(compact)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PythonDumps(compact); err != nil {
			b.Fatal(err)
		}
	}
}
