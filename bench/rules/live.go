package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// liveTargets is what -live points the ten-rules receivers at, in this
// process: a sink answering 200 to every Slack message. The receivers get
// no Prolific API token, so their pauses, group additions and approvals
// end failed ("no Prolific API token"), recorded as a done action is: the
// same lease at decision, hand-off and finish, the engine's whole live
// path but the HTTP call to Prolific (one per batch). With a token every
// submission event would wait up to 30 s for enrichment to learn its study
// (rulesStudyWait), which a fake Prolific cannot tell for loadgen's
// submissions. The sink's CPU is this process's, not the receiver's.
type liveTargets struct {
	sink     *httptest.Server
	messages atomic.Int64
}

func startLive() *liveTargets {
	l := &liveTargets{}
	l.sink = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		l.messages.Add(1)
	}))
	return l
}

// env is what a ten-rules receiver needs to act live.
func (l *liveTargets) env() []string {
	return []string{"RECEIVER_ACTIONS=live", "SLACK_WEBHOOK_URL=" + l.sink.URL}
}

func (l *liveTargets) close() { l.sink.Close() }
