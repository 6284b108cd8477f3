package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/prolific-receiver/receiver/internal/testkit"
)

// Helpers shared by the end-to-end tests: reading the receiver's admin API
// and /metrics over real HTTP.

// fetchJSON GETs url and decodes a 200 body into v; it returns the status.
func fetchJSON(url string, v any) (int, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return resp.StatusCode, nil
}

// listedEvent is one entry of GET /api/v1/events.
type listedEvent struct {
	Seq        int64     `json:"seq"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	ResourceID string    `json:"resource_id"`
	Status     string    `json:"status"`
	EventTime  time.Time `json:"event_time"`
}

// allEvents pages through GET /api/v1/events, newest first.
func allEvents(t *testing.T, adminURL string) []listedEvent {
	t.Helper()
	var out []listedEvent
	before := int64(0)
	for range 10000 {
		url := adminURL + "/api/v1/events?limit=1000"
		if before > 0 {
			url += "&before=" + strconv.FormatInt(before, 10)
		}
		var page struct {
			Events     []listedEvent `json:"events"`
			NextBefore int64         `json:"next_before"`
		}
		if code, err := fetchJSON(url, &page); err != nil || code != http.StatusOK {
			t.Fatalf("list events: %d %v", code, err)
		}
		out = append(out, page.Events...)
		if page.NextBefore == 0 {
			return out
		}
		if before > 0 && page.NextBefore >= before {
			t.Fatalf("event listing does not advance: next_before %d after %d", page.NextBefore, before)
		}
		before = page.NextBefore
	}
	t.Fatal("event listing did not end")
	return nil
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	jobs := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return first
}

// compact returns b with insignificant JSON whitespace removed, so bodies
// compare equal however they were re-encoded.
func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricSum adds up every sample of a counter family.
func metricSum(t *testing.T, adminURL, name string) float64 {
	t.Helper()
	sum := 0.0
	if f, ok := scrape(t, adminURL)[name]; ok {
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// promtoolCheckMetrics runs `promtool check metrics` over the receiver's
// whole /metrics exposition (testkit.PromtoolCheck).
func promtoolCheckMetrics(t *testing.T, adminURL string) {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	testkit.PromtoolCheck(t, resp.Body)
}
