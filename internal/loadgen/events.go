package loadgen

import (
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/prolific"
)

// Event is one webhook delivery the generator produced: the X-Event-ID, the
// X-Timestamp (event time, unix seconds) and the exact body. The request
// timestamp and signature are added when it is sent, so a re-send is freshly
// signed.
type Event struct {
	ID        string
	Type      string
	EventTime int64
	Body      []byte
}

// Study and submission statuses as Prolific spells them (webhooks.md §4).
var (
	studyCycle = []string{"ACTIVE", "PAUSED", "ACTIVE", "AWAITING REVIEW", "COMPLETED", "ACTIVE"}
	// SubmissionPaths are the lifecycles a submission walks through, most
	// often the first: created once (RESERVED), then one to three changes.
	SubmissionPaths = [][]string{
		{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED"},
		{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED"},
		{"RESERVED", "ACTIVE", "AWAITING REVIEW", "APPROVED"},
		{"RESERVED", "ACTIVE", "AWAITING REVIEW", "REJECTED"},
		{"RESERVED", "ACTIVE", "RETURNED"},
		{"RESERVED", "TIMED-OUT"},
		{"RESERVED", "ACTIVE", "SCREENED OUT"},
		{"RESERVED", "ACTIVE", "AWAITING REVIEW", "PARTIALLY APPROVED"},
	}
)

type genStudy struct {
	id    string
	state int // index into studyCycle
}

type genSubmission struct {
	id, participant string
	path            []string
	next            int
}

// generator produces realistic, unique deliveries for a fixed set of
// studies. Uniqueness matters twice: every event gets a fresh ObjectId, and
// no two events share request timestamp and body, because the receiver also
// treats equal signed content as a duplicate. Submission bodies are unique by
// construction (each submission walks a path without repeats); study bodies
// are remembered for the current second and replaced by a submission event
// when one would repeat.
type generator struct {
	mu      sync.Mutex
	rng     *rand.Rand
	now     func() time.Time
	studies []genStudy
	open    []*genSubmission // submissions that still have statuses to go
	sec     int64
	seen    map[string]string // study bodies used in second sec -> event ID
	process [5]byte           // the ObjectId's per-process bytes
	counter uint32            // the ObjectId's counter (low 24 bits used)
}

// maxOpenSubmissions bounds the in-progress pool; new submissions start when
// it is below this size or by chance.
const maxOpenSubmissions = 2000

func newGenerator(studies int, seed uint64, now func() time.Time) *generator {
	g := &generator{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:  now,
		seen: make(map[string]string),
	}
	r := g.rng.Uint64()
	for i := range g.process {
		g.process[i] = byte(r >> (8 * i))
	}
	g.counter = g.rng.Uint32() & 0xffffff
	for range max(studies, 1) {
		g.studies = append(g.studies, genStudy{id: g.objectID(now())})
	}
	return g
}

// objectID returns a MongoDB ObjectId as 24 hex digits, the form of every
// Prolific ID (webhooks.md §1): 4 bytes of time, 5 bytes fixed per
// generator (MongoDB's per-process value), a 3-byte counter starting at a
// random value. IDs of one generator therefore ascend within a second, as
// those of one Prolific process do.
func (g *generator) objectID(t time.Time) string {
	var b [12]byte
	ts := uint32(t.Unix())
	b[0], b[1], b[2], b[3] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	copy(b[4:9], g.process[:])
	g.counter++
	b[9], b[10], b[11] = byte(g.counter>>16), byte(g.counter>>8), byte(g.counter)
	return hex.EncodeToString(b[:])
}

// The traffic's shape, as Prolific's looks (issue 24): of 100 events, 78
// submission status changes, 19 progress pings, 3 study status changes.
const (
	mixSubmission = 78
	mixProgress   = 19
)

// Next returns a new unique event stamped with the current second, which the
// caller must use as the request timestamp when it is first sent. A study
// event whose body another event already carries in this second goes to
// another study; when every study has had one, it becomes a submission event.
func (g *generator) Next() Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tick()
	ev := Event{ID: g.objectID(t), EventTime: t.Unix()}
	switch x := g.rng.IntN(100); {
	case x < mixSubmission:
	case x < mixSubmission+mixProgress:
		ev.Type = prolific.EventStudyProgressChange
	default:
		ev.Type = prolific.EventStudyStatusChange
	}
	if ev.Type != "" {
		if body := g.studyBody(ev.Type); body != "" {
			g.seen[body] = ev.ID
			ev.Body = []byte(body)
			return ev
		}
	}
	ev.Type = prolific.EventSubmissionStatusChange
	ev.Body = []byte(g.submissionBody(t))
	return ev
}

// studyBody returns the body of a study event of type typ for a random study
// whose body for it is not yet used in this second (advancing that study's
// status for a status change), or "" when there is none.
func (g *generator) studyBody(typ string) string {
	n := len(g.studies)
	start := g.rng.IntN(n)
	for j := range n {
		s := &g.studies[(start+j)%n]
		next, status := s.state, ""
		if typ == prolific.EventStudyStatusChange {
			next = (s.state + 1) % len(studyCycle)
			status = studyCycle[next]
		}
		body := string(delivery.Sample(typ, s.id, status, ""))
		if _, used := g.seen[body]; !used {
			s.state = next
			return body
		}
	}
	return ""
}

// tick reads the clock and forgets the bodies of an earlier second.
func (g *generator) tick() time.Time {
	t := g.now()
	if s := t.Unix(); s != g.sec {
		g.sec = s
		clear(g.seen)
	}
	return t
}

// Resend returns the request timestamp (unix seconds) for re-sending ev now,
// or false when ev must not be re-sent in this second because another event
// already went out with the same body: the receiver would take the two for
// one (equal signed content) and a distinct event would look stored when it
// is not. Submission bodies never collide; study bodies can.
func (g *generator) Resend(ev Event) (int64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tick()
	if ev.Type == prolific.EventSubmissionStatusChange {
		return t.Unix(), true
	}
	body := string(ev.Body)
	if id, used := g.seen[body]; used && id != ev.ID {
		return 0, false
	}
	g.seen[body] = ev.ID
	return t.Unix(), true
}

// submissionBody advances a random open submission, or starts a new one.
func (g *generator) submissionBody(t time.Time) string {
	var sub *genSubmission
	if len(g.open) < maxOpenSubmissions && (len(g.open) == 0 || g.rng.IntN(4) == 0) {
		sub = &genSubmission{
			id:          g.objectID(t),
			participant: g.objectID(t),
			path:        SubmissionPaths[g.rng.IntN(len(SubmissionPaths))],
		}
		g.open = append(g.open, sub)
	} else {
		sub = g.open[g.rng.IntN(len(g.open))]
	}
	status := sub.path[sub.next]
	sub.next++
	if sub.next == len(sub.path) {
		for i, o := range g.open {
			if o == sub {
				g.open[i] = g.open[len(g.open)-1]
				g.open = g.open[:len(g.open)-1]
				break
			}
		}
	}
	return string(delivery.Sample(prolific.EventSubmissionStatusChange, sub.id, status, sub.participant))
}
