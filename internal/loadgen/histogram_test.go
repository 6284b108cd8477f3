package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramPercentiles(t *testing.T) {
	var h Histogram
	// 1 µs .. 10 ms in 1 µs steps, shuffled: percentiles are known exactly.
	vals := make([]time.Duration, 10000)
	for i := range vals {
		vals[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	for _, v := range vals {
		h.Record(v)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0, 1 * time.Microsecond},
		{50, 5000 * time.Microsecond},
		{90, 9000 * time.Microsecond},
		{99, 9900 * time.Microsecond},
		{99.9, 9990 * time.Microsecond},
		{100, 10000 * time.Microsecond},
	}
	for _, tc := range tests {
		got := h.Percentile(tc.p)
		if rel := relErr(got, tc.want); rel > 1.0/128 {
			t.Errorf("Percentile(%v) = %v, want %v (±0.8%%, off by %.2f%%)", tc.p, got, tc.want, rel*100)
		}
	}
	if got, want := h.Max(), 10*time.Millisecond; got != want {
		t.Errorf("Max() = %v, want %v", got, want)
	}
	if got, want := h.Min(), time.Microsecond; got != want {
		t.Errorf("Min() = %v, want %v", got, want)
	}
	if got, want := h.Mean(), 5000500*time.Nanosecond; got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
	if got, want := h.Count(), uint64(10000); got != want {
		t.Errorf("Count() = %d, want %d", got, want)
	}
}

func TestHistogramSkewed(t *testing.T) {
	// 990 fast requests and 10 slow ones: p99 must be fast, p99.9 slow.
	var h Histogram
	for range 990 {
		h.Record(200 * time.Microsecond)
	}
	for range 10 {
		h.Record(2 * time.Second)
	}
	if got, want := h.Percentile(99), 200*time.Microsecond; relErr(got, want) > 1.0/128 {
		t.Errorf("Percentile(99) = %v, want %v", got, want)
	}
	if got, want := h.Percentile(99.9), 2*time.Second; relErr(got, want) > 1.0/128 {
		t.Errorf("Percentile(99.9) = %v, want %v", got, want)
	}
}

func TestHistogramBucketPrecision(t *testing.T) {
	// Every value from 1 ns to beyond 10 s lands in a bucket whose upper
	// bound is within 1/128 above it; small values are exact.
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(v uint64) {
		i := bucketIndex(v)
		hi := bucketHigh(i)
		if hi < v || float64(hi-v) > float64(v)/128 {
			t.Fatalf("bucketHigh(bucketIndex(%d)) = %d, want within 1/128 above", v, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Fatalf("bucketHigh(%d) = %d, want < %d (buckets overlap)", i-1, bucketHigh(i-1), v)
		}
	}
	for v := uint64(0); v < 4096; v++ {
		check(v)
	}
	for range 200000 {
		check(uint64(rng.Int64N(int64(20 * time.Second))))
	}
	if got, want := bucketIndex(1<<62), histBuckets-1; got != want {
		t.Errorf("bucketIndex(huge) = %d, want %d (clamped)", got, want)
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if got := h.Percentile(99); got != 0 {
		t.Errorf("empty Percentile(99) = %v, want 0", got)
	}
	if got := h.Mean(); got != 0 {
		t.Errorf("empty Mean() = %v, want 0", got)
	}
}

func relErr(got, want time.Duration) float64 {
	d := float64(got - want)
	if d < 0 {
		d = -d
	}
	return d / float64(want)
}
