package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// panickingSaver fails the way a bug would.
type panickingSaver struct{}

func (panickingSaver) Save(context.Context, *store.Event) (store.Outcome, error) {
	panic("saver bug")
}

// TestPublicRoutes: the webhook route, taken before chi, answers and is
// counted as through chi; every other request still goes through chi
// (405 with Allow, 404, a raw path that only decodes to the route); a
// panic in the webhook path is a 500 and the listener keeps serving.
func TestPublicRoutes(t *testing.T) {
	var panicking bool
	saver := saverFunc(func(ctx context.Context, e *store.Event) (store.Outcome, error) {
		if panicking {
			return panickingSaver{}.Save(ctx, e)
		}
		return store.Stored, nil
	})
	tr := newTestReceiver(t, func(d *Deps) { d.Saver = saver; d.Log = zerolog.Nop() })
	signed := func() *http.Request {
		now := time.Now()
		req, err := delivery.NewRequest(context.Background(), tr.public.URL+webhookPath, testSecret,
			submissionBody(delivery.NewID(), "ACTIVE"), delivery.Headers{EventID: delivery.NewID(), EventTime: now, SentAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	request := func(method, rawURL string) *http.Request {
		req, err := http.NewRequest(method, tr.public.URL+rawURL, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	for _, tc := range []struct {
		name  string
		req   *http.Request
		panic bool
		want  int
		allow string
	}{
		{name: "webhook", req: signed(), want: http.StatusOK},
		{name: "unsigned webhook", req: request(http.MethodPost, webhookPath), want: http.StatusUnauthorized},
		{name: "GET on the webhook route", req: request(http.MethodGet, webhookPath), want: http.StatusMethodNotAllowed, allow: "POST"},
		{name: "trailing slash", req: request(http.MethodPost, webhookPath+"/"), want: http.StatusNotFound},
		{name: "escaped path chi does not route", req: request(http.MethodPost, "/hooks/%70rolific"), want: http.StatusNotFound},
		{name: "panic in the handler", req: signed(), panic: true, want: http.StatusInternalServerError},
		{name: "still serving", req: signed(), want: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			panicking = tc.panic
			resp, err := http.DefaultClient.Do(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	for code, want := range map[string]uint64{"200": 2, "401": 1} {
		h := tr.metrics.RequestDuration.WithLabelValues(webhookPath, code).(prometheus.Histogram)
		if got := testutil.CollectAndCount(h); got != 1 {
			t.Fatalf("series %s: collected %d, want 1", code, got)
		}
		if got := histogramCount(t, h); got != want {
			t.Errorf("receiver_request_duration_seconds{route=%q,code=%q} count = %d, want %d", webhookPath, code, got, want)
		}
	}
	if got := testutil.ToFloat64(tr.metrics.Webhooks.WithLabelValues("submission.status.change", "stored")); got != 2 {
		t.Errorf("stored submission webhooks = %v, want 2", got)
	}
}

// saverFunc adapts a function to Saver.
type saverFunc func(context.Context, *store.Event) (store.Outcome, error)

func (f saverFunc) Save(ctx context.Context, e *store.Event) (store.Outcome, error) { return f(ctx, e) }

// histogramCount reads a histogram's sample count.
func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	m := new(dto.Metric)
	if err := h.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// headerLog is a ResponseWriter that records the statuses written to it.
type headerLog struct {
	discardWriter
	codes []int
}

func (l *headerLog) WriteHeader(code int) { l.codes = append(l.codes, code) }

// TestStatusWriter: the status recorded is the first final one; 1xx
// headers pass through unrecorded, a second final WriteHeader is dropped
// (as chi's wrapper drops it), and a Write without a header is a 200.
func TestStatusWriter(t *testing.T) {
	under := &headerLog{discardWriter: discardWriter{h: http.Header{}}}
	sw := &statusWriter{ResponseWriter: under}
	sw.WriteHeader(http.StatusEarlyHints)
	if sw.status != 0 {
		t.Errorf("after 103: status = %d, want none recorded", sw.status)
	}
	sw.WriteHeader(http.StatusAccepted)
	sw.WriteHeader(http.StatusTeapot)
	if _, err := sw.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if want := []int{http.StatusEarlyHints, http.StatusAccepted}; sw.status != http.StatusAccepted || !slices.Equal(under.codes, want) {
		t.Errorf("status = %d, written %v, want 202 and %v", sw.status, under.codes, want)
	}
	if http.ResponseWriter(under) != sw.Unwrap() {
		t.Error("Unwrap does not return the wrapped writer")
	}
	under2 := &headerLog{discardWriter: discardWriter{h: http.Header{}}}
	sw2 := &statusWriter{ResponseWriter: under2}
	if _, err := sw2.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if sw2.status != http.StatusOK || !slices.Equal(under2.codes, []int{http.StatusOK}) {
		t.Errorf("Write without a header: status = %d, written %v, want 200", sw2.status, under2.codes)
	}
}

// TestChildrenAppearOnFirstUse: a memoized series is absent from the
// registry until first used, and later uses find the same child.
func TestChildrenAppearOnFirstUse(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"l"})
	values := []string{"a", "b"}
	c := newChildren(len(values), func(i int) prometheus.Counter { return vec.WithLabelValues(values[i]) })
	if n := testutil.CollectAndCount(vec); n != 0 {
		t.Fatalf("series before use = %d, want 0", n)
	}
	c.get(1).Inc()
	c.get(1).Inc()
	if n := testutil.CollectAndCount(vec); n != 1 {
		t.Errorf("series after using one = %d, want 1", n)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues("b")); got != 2 {
		t.Errorf("b = %v, want 2", got)
	}
}

// TestShortBodyIsUnreadable: a body that ends before its declared length
// is refused as unreadable, not verified.
func TestShortBodyIsUnreadable(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewPublic(Deps{Log: zerolog.Nop(), Saver: saverFunc(func(context.Context, *store.Event) (store.Outcome, error) {
		t.Error("Save called for a short body")
		return store.Stored, nil
	}), Keyring: verify.NewKeyring(testSecret, nil), Tolerance: verify.DefaultTolerance, MaxBodyBytes: 4096,
		Metrics: NewMetrics(reg, "test"), Gatherer: reg})
	body := submissionBody(delivery.NewID(), "ACTIVE")
	now := time.Now()
	req, err := delivery.NewRequest(context.Background(), "http://receiver"+webhookPath, testSecret, body,
		delivery.Headers{EventID: delivery.NewID(), EventTime: now, SentAt: now})
	if err != nil {
		t.Fatal(err)
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body[:len(body)/2])), int64(len(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "could not read the request body") {
		t.Errorf("answer = %d %s, want 400 could not read the request body", rec.Code, rec.Body)
	}
}

// discardWriter is a ResponseWriter that allocates nothing once its header
// map holds the answer's keys.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// rewindBody is a request body that can be read again.
type rewindBody struct{ *bytes.Reader }

func (rewindBody) Close() error { return nil }

// TestWebhookAllocations: a delivery costs the public handler four heap
// allocations, each kept by the event: its body, the event, the string
// holding both IDs and the content hash. Routing, instrumentation, header
// look-ups, metrics and the answer allocate nothing.
func TestWebhookAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("counts allocations, which -race changes; `make test` runs it again without -race")
	}
	reg := prometheus.NewRegistry()
	h := NewPublic(Deps{Log: zerolog.Nop(), Saver: storedSaver{}, Keyring: verify.NewKeyring(testSecret, nil),
		Tolerance: verify.DefaultTolerance, MaxBodyBytes: 1 << 20, Metrics: NewMetrics(reg, "test"), Gatherer: reg})
	body := submissionBody("6650a1b2c3d4e5f601234567", "AWAITING REVIEW")
	now := time.Now()
	req, err := delivery.NewRequest(context.Background(), "http://receiver"+webhookPath, testSecret, body,
		delivery.Headers{EventID: delivery.NewID(), EventTime: now, SentAt: now})
	if err != nil {
		t.Fatal(err)
	}
	rb := rewindBody{bytes.NewReader(body)}
	req.Body, req.ContentLength = rb, int64(len(body))
	w := &discardWriter{h: http.Header{}}
	got := testing.AllocsPerRun(200, func() {
		rb.Reset(body)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			t.Fatalf("status = %d, want 200", w.status)
		}
	})
	if got > 4 {
		t.Errorf("allocations per delivery = %v, want at most 4", got)
	}
}
