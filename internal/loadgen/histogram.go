package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values below 2^histExactBits nanoseconds are counted
// exactly; above that every power-of-two range is split into histSubBuckets
// linear buckets, so a recorded value is known to within 1/128 (< 0.8 %).
// Values above histMaxValue are clamped to it.
const (
	histExactBits  = 8
	histSubBits    = histExactBits - 1
	histSubBuckets = 1 << histSubBits
	histMaxBits    = 41 // 2^41 ns ≈ 36 min, far beyond any request timeout
	histMaxValue   = 1<<histMaxBits - 1
	histBuckets    = 1<<histExactBits + (histMaxBits-histExactBits)*histSubBuckets
)

// Histogram is a log-linear latency histogram in the spirit of HdrHistogram:
// fixed memory, lock-free Record, at most 0.8 % relative error from 1 ns to
// half an hour. The zero value is ready to use and safe for concurrent use.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	min    atomic.Uint64 // nanoseconds + 1, so zero means "none yet"
	max    atomic.Uint64 // nanoseconds
}

// bucketIndex returns the bucket holding v nanoseconds.
func bucketIndex(v uint64) int {
	if v > histMaxValue {
		v = histMaxValue
	}
	n := bits.Len64(v)
	if n <= histExactBits {
		return int(v)
	}
	shift := n - histExactBits
	m := v >> shift // in [histSubBuckets, 2*histSubBuckets)
	return 1<<histExactBits + (shift-1)*histSubBuckets + int(m) - histSubBuckets
}

// bucketHigh returns the largest value that lands in bucket i.
func bucketHigh(i int) uint64 {
	if i < 1<<histExactBits {
		return uint64(i)
	}
	j := i - 1<<histExactBits
	shift := j/histSubBuckets + 1
	m := uint64(j%histSubBuckets + histSubBuckets)
	return (m+1)<<shift - 1
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketIndex(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		old := h.max.Load()
		if v <= old || h.max.CompareAndSwap(old, v) {
			break
		}
	}
	for {
		old := h.min.Load()
		if (old != 0 && v+1 >= old) || h.min.CompareAndSwap(old, v+1) {
			break
		}
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest observation, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the smallest observation, exactly, or 0 when empty.
func (h *Histogram) Min() time.Duration {
	m := h.min.Load()
	if m == 0 {
		return 0
	}
	return time.Duration(m - 1)
}

// Mean returns the arithmetic mean, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Percentile returns the smallest recorded value v (to bucket precision) such
// that at least p percent of the observations are <= v. p is clamped to
// [0, 100]; an empty histogram yields 0. The result never exceeds Max nor
// falls below Min.
func (h *Histogram) Percentile(p float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	p = min(max(p, 0), 100)
	rank := uint64(p / 100 * float64(total))
	if float64(rank) < p/100*float64(total) {
		rank++ // ceil
	}
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := time.Duration(bucketHigh(i))
			return min(max(v, h.Min()), h.Max())
		}
	}
	return h.Max()
}
