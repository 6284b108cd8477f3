//go:build unix

package verify

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refuseShapes are bodies of at most size bytes in shapes that cost the
// re-serialising forms differently: what a sender without the secret can
// make the receiver check before it is refused.
func refuseShapes(size int) map[string][]byte {
	fill := func(open, item, sep, close string) []byte {
		var b strings.Builder
		b.WriteString(open)
		for i := 0; ; i++ {
			it := strings.ReplaceAll(item, "%d", fmt.Sprint(i))
			if b.Len()+len(sep)+len(it)+len(close) > size {
				break
			}
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(it)
		}
		b.WriteString(close)
		return []byte(b.String())
	}
	return map[string][]byte{
		"not_json":        []byte(strings.Repeat("x", size)),
		"one_long_string": fill(`{"resource_id": "r", "event_type": "t", "pad": "`, `a`, ``, `"}`),
		"many_keys":       fill(`{`, `"key_%d": "v"`, `, `, `}`),
		"compact_keys":    fill(`{`, `"k%d":1`, `,`, `}`),
		"floats":          fill(`[`, `1.%d00000000000001e-7`, `,`, `]`),
		"integers":        fill(`[`, `123456789%d`, `,`, `]`),
		"non_ascii":       fill(`["`, `é😀ü`, ``, `"]`),
		"escapes":         fill(`["`, `\n\"\\\u0001`, ``, `"]`),
		"nested_arrays":   fill(`[`, strings.Repeat("[", 500)+strings.Repeat("]", 500), `,`, `]`),
		"empty_objects":   fill(`[`, `{}`, `,`, `]`),
	}
}

// BenchmarkRefuseWrongSignature measures what it costs to refuse a body
// signed with a wrong secret, per body shape, with two accepted secrets (a
// rotation): at 1 MiB (the default RECEIVER_MAX_BODY_BYTES; above
// MaxFallbackBytes only the raw form is tried) and at MaxFallbackBytes
// (every form tried). It reports CPU time per refusal (cpu-ns/op), the
// number that matters and one steadier than wall time on a shared machine.
// The numbers are in docs/hostile-input.md.
func BenchmarkRefuseWrongSignature(b *testing.B) {
	secrets := []string{vecSecret, "previous-secret"}
	for _, size := range []int{1 << 20, MaxFallbackBytes} {
		for name, body := range refuseShapes(size) {
			refuse(b, fmt.Sprintf("%dKiB/%s", size>>10, name), body, secrets)
		}
	}
}

func refuse(b *testing.B, name string, body []byte, secrets []string) {
	sig := Sign("not-the-secret", vecTimestamp, body)
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		start := cpuTime()
		for b.Loop() {
			if _, err := Verify(sig, vecTimestamp, body, secrets, vecTime, DefaultTolerance); err != ErrNoValidSignature {
				b.Fatalf("Verify() error = %v, want ErrNoValidSignature", err)
			}
		}
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
