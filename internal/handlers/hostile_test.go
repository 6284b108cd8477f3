package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/verify"
)

// Limits of the hardened server, shorter than production's (serve.go) so the
// timeout cases finish quickly; MaxHeaderBytes and MaxBodyBytes are production's.
const (
	hostileMaxBody           = 1 << 20
	hostileReadHeaderTimeout = 500 * time.Millisecond
	hostileReadTimeout       = time.Second
)

// Resources the hostile bodies are about; none may reach a projection.
const (
	hostileSubmission = "6650a1b2c3d4e5f60000dead"
	hostileStudy      = "6650a1b2c3d4e5f60000beef"
)

// newHostileReceiver returns a test receiver with production's body limit and
// the address of a second listener over the same handler, store and metrics,
// configured like cmd/receiver's newHTTPServer (header size and read timeouts).
func newHostileReceiver(t *testing.T, opts ...option) (*testReceiver, string) {
	t.Helper()
	var deps Deps
	opts = append([]option{func(d *Deps) { d.MaxBodyBytes = hostileMaxBody }}, opts...)
	opts = append(opts, func(d *Deps) { deps = *d })
	tr := newTestReceiver(t, opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           NewPublic(deps),
		ReadHeaderTimeout: hostileReadHeaderTimeout,
		ReadTimeout:       hostileReadTimeout,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       5 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return tr, ln.Addr().String()
}

// signedAt returns a POST of body to url signed with secret over the
// timestamp string ts, with a fresh X-Event-ID.
func signedAt(url, secret, ts string, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(prolific.HeaderRequestTimestamp, ts)
	req.Header.Set(prolific.HeaderSignature, verify.Sign(secret, ts, body))
	req.Header.Set(prolific.HeaderEventID, delivery.NewID())
	return req
}

// unixNow is the current time as an X-Prolific-Request-Timestamp value.
func unixNow() string { return strconv.FormatInt(time.Now().Unix(), 10) }

// rawRequest is a request head for a raw TCP connection: "POST /hooks/prolific",
// Host and the given extra header lines, then the blank line.
func rawRequest(extra ...string) []byte {
	var b bytes.Buffer
	b.WriteString("POST /hooks/prolific HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// signedHeaderLines returns the delivery headers signing body, as raw header lines.
func signedHeaderLines(body []byte) []string {
	h := http.Header{}
	delivery.Sign(h, testSecret, body, delivery.Headers{EventID: delivery.NewID(), EventTime: time.Now(), SentAt: time.Now()})
	var lines []string
	for k, v := range h {
		lines = append(lines, k+": "+v[0])
	}
	return lines
}

// rawExchange writes data on a fresh connection to addr (half-closing it
// after when closeWrite is set) and reads one response. It returns the status,
// or 0 and the read error when the server closed the connection without one.
func rawExchange(t *testing.T, addr string, data []byte, closeWrite bool) (int, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		// The server may answer and close before reading everything; a write
		// error then is expected and the response is what counts.
		if _, err := conn.Write(data); err == nil && closeWrite {
			conn.(*net.TCPConn).CloseWrite()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// hostileCase is one request a broken or hostile sender might make: either an
// HTTP request to the public URL or raw bytes for the hardened listener.
type hostileCase struct {
	name       string
	req        func(url string) *http.Request
	raw        []byte
	closeWrite bool // half-close the raw connection after writing
	want       int
}

func hostileCases() []hostileCase {
	good := submissionBody(hostileSubmission, "APPROVED")
	study := delivery.Sample(prolific.EventStudyStatusChange, hostileStudy, "COMPLETED", "")
	signed := func(body []byte, mut func(*http.Request)) func(string) *http.Request {
		return func(url string) *http.Request {
			r := signedAt(url, testSecret, unixNow(), body)
			if mut != nil {
				mut(r)
			}
			return r
		}
	}
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	signedTS := func(ts string) func(string) *http.Request {
		return func(url string) *http.Request { return signedAt(url, testSecret, ts, good) }
	}
	method := func(m string) func(string) *http.Request {
		return func(url string) *http.Request { r, _ := http.NewRequest(m, url, bytes.NewReader(good)); return r }
	}
	path := func(p string) func(string) *http.Request {
		return func(url string) *http.Request {
			return signedAt(strings.TrimSuffix(url, "/hooks/prolific")+p, testSecret, unixNow(), good)
		}
	}
	over := append(append([]byte(`{"resource_id": "x", "event_type": "study.progress.change", "pad": "`),
		bytes.Repeat([]byte("a"), hostileMaxBody)...), '"', '}')
	deep := []byte(strings.Repeat("[", 100_000))
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	otherSig := verify.Sign(testSecret, unixNow(), study)

	return []hostileCase{
		{name: "no signature", req: signed(good, func(r *http.Request) { r.Header.Del(prolific.HeaderSignature) }), want: 401},
		{name: "empty signature", req: signed(good, header(prolific.HeaderSignature, "")), want: 401},
		{name: "garbage signature", req: signed(good, header(prolific.HeaderSignature, "definitely-not-a-signature")), want: 401},
		{name: "bad base64 signature", req: signed(good, header(prolific.HeaderSignature, strings.Repeat("!", 44))), want: 401},
		{name: "base64 of 16 bytes", req: signed(good, header(prolific.HeaderSignature, short)), want: 401},
		{name: "signature of another body", req: signed(good, header(prolific.HeaderSignature, otherSig)), want: 401},
		{name: "wrong secret", req: func(url string) *http.Request { return signedAt(url, "not-the-secret", unixNow(), good) }, want: 401},
		{name: "tampered body", req: func(url string) *http.Request {
			r := signedAt(url, testSecret, unixNow(), good)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(good, []byte("APPROVED"), []byte("REJECTED"), 1)))
			return r
		}, want: 401},
		{name: "timestamp changed after signing", req: func(url string) *http.Request {
			r := signedAt(url, testSecret, unixNow(), good)
			r.Header.Set(prolific.HeaderRequestTimestamp, strconv.FormatInt(time.Now().Unix()-1, 10))
			return r
		}, want: 401},
		{name: "timestamp missing", req: signed(good, func(r *http.Request) { r.Header.Del(prolific.HeaderRequestTimestamp) }), want: 401},
		{name: "timestamp empty", req: signed(good, header(prolific.HeaderRequestTimestamp, "")), want: 401},
		{name: "timestamp non-numeric (signed)", req: signedTS("yesterday"), want: 401},
		{name: "timestamp far past (signed, 30 days)", req: signedTS(strconv.FormatInt(time.Now().Add(-30*24*time.Hour).Unix(), 10)), want: 401},
		{name: "timestamp far future (signed, +1h)", req: signedTS(strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)), want: 401},
		{name: "timestamp year 2603 (signed, 20000000000)", req: signedTS("20000000000"), want: 401},
		{name: "timestamp year 33658 (signed, 999999999999)", req: signedTS("999999999999"), want: 401},
		{name: "timestamp 2^63-1 ms (signed)", req: signedTS("9223372036854775807"), want: 401},
		{name: "timestamp in the year 10000, ms (signed)", req: signedTS("253402300800000"), want: 401},
		{name: "timestamp negative (signed)", req: signedTS("-" + unixNow()), want: 401},
		{name: "timestamp with exponent (signed)", req: signedTS("1.7e9"), want: 401},
		{name: "timestamp 100 digits (signed)", req: signedTS(strings.Repeat("9", 100)), want: 401},
		{name: "X-Event-ID missing", req: signed(good, func(r *http.Request) { r.Header.Del(prolific.HeaderEventID) }), want: 400},
		{name: "X-Event-ID 10 KB", req: signed(good, header(prolific.HeaderEventID, strings.Repeat("a", 10<<10))), want: 400},
		{name: "X-Event-ID 129 chars", req: signed(good, header(prolific.HeaderEventID, strings.Repeat("b", 129))), want: 400},
		{name: "X-Event-ID with tab", req: signed(good, header(prolific.HeaderEventID, "abc\tdef")), want: 400},
		{name: "X-Event-ID with space", req: signed(good, header(prolific.HeaderEventID, "abc def")), want: 400},
		{name: "X-Event-ID non-ASCII", req: signed(good, header(prolific.HeaderEventID, "caf\u00e9")), want: 400},
		{name: "X-Event-ID with control char (raw)", raw: append(rawRequest("X-Event-ID: abc\x01def", "Content-Length: 2"), "{}"...), want: 400},
		{name: "X-Timestamp non-numeric", req: signed(good, header(prolific.HeaderTimestamp, "soon")), want: 400},
		{name: "body over limit, Content-Length", req: signed(over, nil), want: 413},
		{name: "body over limit, chunked", req: signed(over, func(r *http.Request) {
			r.Body, r.ContentLength = io.NopCloser(io.MultiReader(bytes.NewReader(over))), -1
		}), want: 413},
		{name: "invalid UTF-8 (signed)", req: signed([]byte("{\"resource_id\": \"\xff\xfe\", \"event_type\": \"study.progress.change\"}"), nil), want: 400},
		{name: "100k nested arrays (signed)", req: signed(deep, nil), want: 400},
		{name: "100k nested arrays (wrong secret)", req: func(url string) *http.Request { return signedAt(url, "not-the-secret", unixNow(), deep) }, want: 401},
		{name: "not JSON (signed text)", req: signed([]byte("hello, this is plain text"), header("Content-Type", "text/plain")), want: 400},
		{name: "empty body (signed)", req: signed(nil, nil), want: 400},
		{name: "JSON array (signed)", req: signed([]byte(`[{"resource_id": "x", "event_type": "study.progress.change"}]`), nil), want: 400},
		{name: "trailing data after object (signed)", req: signed(append(bytes.Clone(good), " {}"...), nil), want: 400},
		{name: "event_type missing (signed)", req: signed([]byte(`{"resource_id": "`+hostileStudy+`"}`), nil), want: 400},
		{name: "event_type not a string (signed)", req: signed([]byte(`{"resource_id": "`+hostileStudy+`", "event_type": 7}`), nil), want: 400},
		{name: "resource_id missing (signed)", req: signed([]byte(`{"event_type": "study.progress.change"}`), nil), want: 400},
		{name: "NUL in resource_id (signed)", req: signed([]byte(`{"resource_id": "ab\u0000cd", "event_type": "study.progress.change"}`), nil), want: 400},
		{name: "resource_id of 900 KB (signed)", req: signed([]byte(`{"resource_id": "`+strings.Repeat("f", 900<<10)+`", "event_type": "study.progress.change"}`), nil), want: 400},
		{name: "resource_id of 129 characters (signed)", req: signed([]byte(`{"resource_id": "`+strings.Repeat("f", 129)+`", "event_type": "study.progress.change"}`), nil), want: 400},
		{name: "resource_id .. (signed)", req: signed([]byte(`{"resource_id": "..", "event_type": "study.progress.change"}`), nil), want: 400},
		{name: "resource_id . (signed)", req: signed([]byte(`{"resource_id": ".", "event_type": "study.status.change", "status": "ACTIVE"}`), nil), want: 400},
		{name: "status of 129 characters (signed)", req: signed([]byte(`{"resource_id": "`+hostileStudy+`", "event_type": "study.status.change", "status": "`+strings.Repeat("S", 129)+`"}`), nil), want: 400},
		{name: "participant_id of 129 characters (signed)", req: signed([]byte(`{"resource_id": "`+hostileSubmission+`", "event_type": "submission.status.change", "participant_id": "`+strings.Repeat("p", 129)+`", "status": "APPROVED"}`), nil), want: 400},
		{name: "case-folded EVENT_TYPE key only (signed)", req: signed([]byte(`{"resource_id": "`+hostileStudy+`", "EVENT_TYPE": "study.progress.change"}`), nil), want: 400},
		{name: "status missing on a status change (signed)", req: signed([]byte(`{"resource_id": "`+hostileStudy+`", "event_type": "study.status.change"}`), nil), want: 400},
		{name: "GET", req: method(http.MethodGet), want: 405},
		{name: "PUT", req: method(http.MethodPut), want: 405},
		{name: "DELETE", req: method(http.MethodDelete), want: 405},
		{name: "wrong path", req: path("/hooks/other"), want: 404},
		{name: "trailing slash", req: path("/hooks/prolific/"), want: 404},
		{name: "admin path on the public listener", req: path("/api/v1/events"), want: 404},
		{name: "huge headers, 100 KiB (raw)", raw: rawRequest("X-Pad: "+strings.Repeat("p", 100<<10), "Content-Length: 0"), want: 431},
		{name: "body shorter than Content-Length (raw)", raw: append(rawRequest(append(signedHeaderLines(good),
			"Content-Length: "+strconv.Itoa(len(good)+100))...), good...), closeWrite: true, want: 400},
		{name: "Content-Length not a number (raw)", raw: rawRequest("Content-Length: lots"), want: 400},
		{name: "two different Content-Lengths (raw)", raw: append(rawRequest("Content-Length: 2", "Content-Length: 3"), "{} "...), want: 400},
		{name: "malformed chunked encoding (raw)", raw: append(rawRequest(append(signedHeaderLines(good), "Transfer-Encoding: chunked")...),
			"zz\r\n{}\r\n0\r\n\r\n"...), want: 400},
		{name: "unsupported Transfer-Encoding (raw)", raw: append(rawRequest("Transfer-Encoding: gzip"), "{}"...), want: 501},
		{name: "X-Hook-Secret handshake stores nothing", req: func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(good))
			r.Header.Set(prolific.HeaderHookSecret, "handshake")
			r.Header.Set(prolific.HeaderEventID, delivery.NewID())
			return r
		}, want: 200},
	}
}

// TestHostileRequestsStoreNothing sends every case in hostileCases, then a
// slow header drip and a slow body drip, and checks each status and that no
// event, study or submission was stored. The replay of a captured delivery
// with new unsigned headers is TestReplayWithNewUnsignedHeadersIsDuplicate.
func TestHostileRequestsStoreNothing(t *testing.T) {
	tr, hardened := newHostileReceiver(t)
	url := tr.public.URL + "/hooks/prolific"
	cases := hostileCases()
	if len(cases) < 25 {
		t.Fatalf("only %d hostile cases, want at least 25", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			var body string
			if tc.raw != nil {
				var err error
				if got, err = rawExchange(t, hardened, tc.raw, tc.closeWrite); err != nil {
					t.Fatalf("no response: %v, want status %d", err, tc.want)
				}
			} else {
				got, body = do(t, tc.req(url))
			}
			if got != tc.want {
				t.Errorf("status = %d (%s), want %d", got, strings.TrimSpace(body), tc.want)
			}
		})
	}
	t.Run("slow header drip", func(t *testing.T) { slowHeaders(t, hardened) })
	t.Run("slow body drip", func(t *testing.T) { slowBody(t, hardened) })
	assertNothingStored(t, tr)
}

// slowHeaders drips a request head one byte per 50 ms: soon after
// ReadHeaderTimeout the server must answer 400 or drop the connection.
func slowHeaders(t *testing.T, addr string) {
	head := rawRequest(signedHeaderLines(submissionBody(hostileSubmission, "ACTIVE"))...)
	dripAndExpectCut(t, addr, nil, head, 50*time.Millisecond, hostileReadHeaderTimeout)
}

// slowBody sends a signed request head, then drips the body one byte per
// 100 ms: the body read must fail at ReadTimeout, answered with 400 or a cut.
func slowBody(t *testing.T, addr string) {
	body := submissionBody(hostileSubmission, "RETURNED")
	head := rawRequest(append(signedHeaderLines(body), "Content-Length: "+strconv.Itoa(len(body)))...)
	dripAndExpectCut(t, addr, head, body, 100*time.Millisecond, hostileReadTimeout)
}

// dripAndExpectCut writes prefix, then drip one byte per every, and expects
// the server to give up within limit + 2 s, before drip is all sent, either
// with a 400 or by closing the connection.
func dripAndExpectCut(t *testing.T, addr string, prefix, drip []byte, every, limit time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		if _, err := conn.Write(prefix); err != nil {
			return
		}
		for _, c := range drip {
			if _, err := conn.Write([]byte{c}); err != nil {
				return
			}
			n++
			time.Sleep(every)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(limit + 4*time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	elapsed := time.Since(start)
	conn.Close()
	n := <-sent
	switch {
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400 (or a closed connection) for a request cut by a read timeout", resp.StatusCode)
		}
	case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err):
		t.Fatalf("reading the response: %v; want a 400 or a closed connection", err)
	}
	if elapsed > limit+2*time.Second {
		t.Errorf("server gave up after %v, want within its timeout (%v) + 2s", elapsed, limit)
	}
	if n >= len(drip) {
		t.Errorf("all %d dripped bytes were sent before the cut, want the server to stop waiting", len(drip))
	}
}

// isReset reports whether err is a connection reset by the peer.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// assertNothingStored checks that the store holds no event and no projection
// of the hostile resources, and that no delivery was counted as accepted.
func assertNothingStored(t *testing.T, tr *testReceiver) {
	t.Helper()
	ctx := context.Background()
	events, err := tr.store.Events(ctx, store.EventFilter{Limit: store.MaxLimit})
	if err != nil || len(events) != 0 {
		t.Errorf("store holds %d events (%v), want 0", len(events), err)
	}
	studies, err := tr.store.Studies(ctx, store.StudyFilter{})
	if err != nil || len(studies) != 0 {
		t.Errorf("store holds %d studies (%v), want 0", len(studies), err)
	}
	if _, err := tr.store.Submission(ctx, hostileSubmission); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Submission(%s) error = %v, want ErrNotFound", hostileSubmission, err)
	}
	if _, err := tr.store.Study(ctx, hostileStudy); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Study(%s) error = %v, want ErrNotFound", hostileStudy, err)
	}
	for _, typ := range []string{prolific.EventSubmissionStatusChange, prolific.EventStudyStatusChange,
		prolific.EventStudyProgressChange, prolific.EventStudyHighReturnRate, "other", "none"} {
		for _, outcome := range []string{store.Stored.String(), store.Duplicate.String()} {
			if got := testutil.ToFloat64(tr.metrics.Webhooks.WithLabelValues(typ, outcome)); got != 0 {
				t.Errorf("receiver_webhooks_total{event_type=%q,outcome=%q} = %v, want 0", typ, outcome, got)
			}
		}
	}
}

// TestHostileChunkedBodyWithinLimitStored is the positive control for the
// chunked case: a signed delivery sent in chunks within the limit is stored.
func TestHostileChunkedBodyWithinLimitStored(t *testing.T) {
	tr, hardened := newHostileReceiver(t)
	body := submissionBody(hostileSubmission, "AWAITING REVIEW")
	half := len(body) / 2
	chunked := fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", half, body[:half], len(body)-half, body[half:])
	raw := append(rawRequest(append(signedHeaderLines(body), "Transfer-Encoding: chunked", "Connection: close")...), chunked...)
	got, err := rawExchange(t, hardened, raw, false)
	if err != nil || got != http.StatusOK {
		t.Fatalf("chunked delivery: status %d, %v; want 200", got, err)
	}
	events, err := tr.store.Events(context.Background(), store.EventFilter{Limit: 10})
	if err != nil || len(events) != 1 || !bytes.Equal(events[0].Body, body) {
		t.Fatalf("stored %d events (%v), want exactly the chunked body", len(events), err)
	}
	sub, err := tr.store.Submission(context.Background(), hostileSubmission)
	if err != nil || sub.Status != "AWAITING REVIEW" {
		t.Errorf("Submission() = %+v, %v; want AWAITING REVIEW", sub, err)
	}
}
