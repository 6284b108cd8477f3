package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/prolific"
)

const presignUsage = `Usage: receiver loadgen presign -count N -out PREFIX [-files K] [-url URL] [-secret-file F]

Writes N signed, unique Prolific webhook deliveries as complete HTTP/1.1
requests, for a load generator that only replays bytes (bench/wrk/presigned.lua
drives wrk with them), dealt round-robin into K files PREFIX.0 ... PREFIX.K-1
(one per wrk thread). Each record is the request's length in bytes on a line
of its own, then the request. The events are those the closed loop sends
(the same mix of event types and submission lifecycles); their request
timestamps step 5 ms apart and end at the time of writing, so they stay
inside the receiver's timestamp window for RECEIVER_TIMESTAMP_TOLERANCE.
Every record is a new X-Event-ID with content no other record shares, so a
receiver stores each one once; replayed twice, the second pass is all
duplicates.

Flags:
`

// presignStep is how far apart the records' request timestamps are. The
// generator never repeats a study body within one second (the receiver
// would take two equal signed requests for one), so at 200 events a second
// a study event is replaced by a submission event only when one of 50
// studies already had that change in the second; at 1,000 a second most
// progress changes would be. 500,000 requests span 42 minutes.
const presignStep = 5 * time.Millisecond

func presignMain(_ context.Context, args []string, _, stderr io.Writer) error {
	fs := flagset.New("loadgen presign", presignUsage, stderr)
	var (
		target     = fs.String("url", "http://127.0.0.1:8080/hooks/prolific", "webhook `URL` (its host and path go into the requests)")
		readSecret = secretFlags(fs)
		count      = fs.Int("count", 0, "number of requests to write (required)")
		studies    = fs.Int("studies", 50, "number of studies the events are spread over")
		seed       = fs.Uint64("seed", 0, "seed for the generated studies and IDs (0: random)")
		out        = fs.String("out", "", "write the requests to `PREFIX`.0, PREFIX.1, ... (required)")
		files      = fs.Int("files", 1, "number of files to deal the requests into (one per wrk thread)")
	)
	if run, err := parseFlags(fs, args, false); !run {
		return err
	}
	if *count <= 0 || *out == "" || *files < 1 {
		return errors.New("loadgen presign: -count (> 0), -out and -files (>= 1) are required")
	}
	key, err := readSecret()
	if err != nil {
		return err
	}
	ws := make([]io.Writer, *files)
	bufs := make([]*bufio.Writer, *files)
	fds := make([]*os.File, *files)
	defer func() {
		for _, f := range fds {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range fds {
		if fds[i], err = os.Create(fmt.Sprintf("%s.%d", *out, i)); err != nil {
			return fmt.Errorf("loadgen presign: %w", err)
		}
		bufs[i] = bufio.NewWriterSize(fds[i], 1<<20)
		ws[i] = bufs[i]
	}
	cfg := PresignConfig{Target: *target, Secret: key, Count: *count, Studies: *studies, Seed: *seed, End: time.Now()}
	if err := Presign(ws, cfg); err != nil {
		return fmt.Errorf("loadgen presign: %w", err)
	}
	for i, f := range fds {
		if err := bufs[i].Flush(); err != nil {
			return fmt.Errorf("loadgen presign: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("loadgen presign: %w", err)
		}
		fds[i] = nil
	}
	fmt.Fprintf(stderr, "loadgen presign: %d requests written to %s.0 ... %s.%d\n", *count, *out, *out, *files-1)
	return nil
}

// PresignConfig describes a set of pre-signed requests.
type PresignConfig struct {
	Target  string    // webhook URL: its host goes into Host, its path into the request line
	Secret  string    // signs every request; never written but as the signature
	Count   int       // how many requests
	Studies int       // studies the events are spread over; 0 means 50
	Seed    uint64    // 0 picks one at random
	End     time.Time // the last request's timestamp; the first is Count ms before it
}

// Presign writes c.Count signed requests, dealt round-robin over ws, each as
// its length in bytes on a line and then the raw HTTP/1.1 request
// (keep-alive, Content-Length).
func Presign(ws []io.Writer, c PresignConfig) error {
	u, err := url.Parse(c.Target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad -url %q", c.Target)
	}
	path := u.RequestURI()
	if c.Studies <= 0 {
		c.Studies = 50
	}
	seed := c.Seed
	if seed == 0 {
		seed = randomSeed()
	}
	clock := c.End.Add(-time.Duration(c.Count) * presignStep)
	gen := newGenerator(c.Studies, seed, func() time.Time { return clock })
	hdr := make(http.Header, 6)
	var req []byte
	for n := range c.Count {
		w := ws[n%len(ws)]
		clock = clock.Add(presignStep)
		ev := gen.Next()
		clear(hdr)
		delivery.Sign(hdr, c.Secret, ev.Body, delivery.Headers{
			EventID: ev.ID, EventTime: time.Unix(ev.EventTime, 0), SentAt: time.Unix(ev.EventTime, 0)})
		req = append(req[:0], "POST "...)
		req = append(req, path...)
		req = append(req, " HTTP/1.1\r\nHost: "...)
		req = append(req, u.Host...)
		req = append(req, "\r\nContent-Length: "...)
		req = strconv.AppendInt(req, int64(len(ev.Body)), 10)
		req = append(req, "\r\n"...)
		for _, k := range []string{"Content-Type", prolific.HeaderRequestTimestamp, prolific.HeaderSignature, prolific.HeaderEventID, prolific.HeaderTimestamp} {
			v := hdr.Get(k)
			if v == "" {
				return fmt.Errorf("delivery.Sign set no %s header", k)
			}
			req = append(req, k...)
			req = append(req, ": "...)
			req = append(req, v...)
			req = append(req, "\r\n"...)
		}
		req = append(req, "\r\n"...)
		req = append(req, ev.Body...)
		if _, err := fmt.Fprintf(w, "%d\n", len(req)); err != nil {
			return err
		}
		if _, err := w.Write(req); err != nil {
			return err
		}
	}
	return nil
}
