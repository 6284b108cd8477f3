package loadgen

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// readRecords splits a presigned file into its raw requests.
func readRecords(t *testing.T, b []byte) [][]byte {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(b))
	var out [][]byte
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return out
		}
		if err != nil {
			t.Fatalf("record length: %v", err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil || n <= 0 {
			t.Fatalf("record length line %q", line)
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(r, req); err != nil {
			t.Fatalf("record of %d bytes: %v", n, err)
		}
		out = append(out, req)
	}
}

func TestPresignReplaysAsValidUniqueDeliveries(t *testing.T) {
	f := newFakeReceiver(t)
	const n = 3000
	var files [2]bytes.Buffer
	err := Presign([]io.Writer{&files[0], &files[1]}, PresignConfig{
		Target: f.URL + "/hooks/prolific", Secret: testSecret, Count: n, Studies: 50, Seed: 7, End: time.Now(),
	})
	if err != nil {
		t.Fatalf("Presign: %v", err)
	}
	total := 0
	contents := make(map[string]bool, n)
	for k := range files {
		recs := readRecords(t, files[k].Bytes())
		if len(recs) != n/2 {
			t.Errorf("file %d holds %d requests, want %d (dealt round-robin)", k, len(recs), n/2)
		}
		total += len(recs)
		// Replay the file's bytes as they are over one keep-alive
		// connection, as wrk does.
		conn, err := net.Dial("tcp", f.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		for i, rec := range recs {
			// No two requests share signed content (request timestamp +
			// body), which the receiver would take for one event.
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(rec)))
			if err != nil {
				t.Fatalf("file %d request %d does not parse: %v", k, i, err)
			}
			body, _ := io.ReadAll(req.Body)
			content := req.Header.Get(prolific.HeaderRequestTimestamp) + string(body)
			if contents[content] {
				t.Fatalf("file %d request %d repeats signed content %s", k, i, content)
			}
			contents[content] = true
			if _, err := conn.Write(rec); err != nil {
				t.Fatalf("file %d request %d: write: %v", k, i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("file %d request %d: read answer: %v", k, i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("file %d request %d: status %d", k, i, resp.StatusCode)
			}
		}
		conn.Close()
	}
	if total != n {
		t.Fatalf("%d requests written, want %d", total, n)
	}
	got := f.got()
	if f.bad != 0 || len(got) != n {
		t.Fatalf("fake receiver accepted %d of %d requests, %d bad", len(got), n, f.bad)
	}
	ids := make(map[string]bool, n)
	types := make(map[string]int)
	for _, d := range got {
		if ids[d.id] {
			t.Fatalf("X-Event-ID %s sent twice", d.id)
		}
		ids[d.id] = true
		types[d.eventType]++
	}
	// The 5 ms step keeps the generator's mix (78 % submission, 19 %
	// progress, 3 % study status): a study event that would repeat within one
	// second goes to another study, and seldom has none left.
	for typ, least := range map[string]int{
		prolific.EventSubmissionStatusChange: n * 74 / 100,
		prolific.EventStudyProgressChange:    n * 15 / 100,
		prolific.EventStudyStatusChange:      n * 1 / 100,
	} {
		if types[typ] < least {
			t.Errorf("%d %s events of %d, want the generator's mix (%v)", types[typ], typ, n, types)
		}
	}
}

func TestPresignRejectsBadTarget(t *testing.T) {
	err := Presign([]io.Writer{io.Discard}, PresignConfig{Target: "no-host", Secret: testSecret, Count: 1, End: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "bad -url") {
		t.Fatalf("Presign(no-host) = %v, want a bad -url error", err)
	}
}
