package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prolific-receiver/receiver/internal/notifytest"
	"github.com/prolific-receiver/receiver/internal/prolifictest"
)

// sinkPath is where the notification sink listens: a Slack incoming
// webhook URL for the demo is http://ADDR/_sink/slack/anything, a Teams
// workflow URL http://ADDR/_sink/teams/anything.
const sinkPath = "/_sink/"

// createGroups makes the participant groups named by -groups.
func createGroups(f *prolifictest.Fake, c config) ([]string, error) {
	var ids []string
	for _, id := range strings.Split(c.groups, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if _, err := f.CreateParticipantGroup(c.workspace, id, "Participant group "+id); err != nil {
			return nil, fmt.Errorf("-groups: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// withSinks mounts the webhook sink beside the API (with -sink) and starts
// the SMTP sink (with -smtp-sink, returning its address); stop ends it.
func withSinks(api http.Handler, c config, out *lockedWriter) (h http.Handler, smtpAddr string, stop func(), err error) {
	stop = func() {}
	h = api
	if c.sink {
		sink := notifytest.NewSink(writerFunc(func(p []byte) (int, error) {
			out.printf("%s", p)
			return len(p), nil
		}))
		mux := http.NewServeMux()
		mux.Handle(sinkPath, sink)
		mux.Handle("/", api)
		h = mux
	}
	if c.smtpSink != "" {
		srv, err := notifytest.NewSMTPServer(notifytest.SMTPOptions{Addr: c.smtpSink, Security: notifytest.SMTPNone,
			Out: writerFunc(func(p []byte) (int, error) {
				out.printf("%s", p)
				return len(p), nil
			})})
		if err != nil {
			return nil, "", nil, fmt.Errorf("-smtp-sink: %w", err)
		}
		stop, smtpAddr = srv.Close, srv.Addr()
	}
	return h, smtpAddr, stop, nil
}

// describeExtras prints where the sink, the call record and the groups are.
func describeExtras(out *lockedWriter, addr, smtpAddr string, c config, groups []string) {
	if smtpAddr != "" {
		out.printf("smtp sink listening on %s (no TLS, no auth)\n", smtpAddr)
	}
	if c.sink {
		out.printf("notification sink: Slack http://%s%sslack/demo, Teams http://%s%steams/demo\n", addr, sinkPath, addr, sinkPath)
	}
	out.printf("call record: http://%s%s\n", addr, prolifictest.FakeCallsPath)
	if len(groups) > 0 {
		out.printf("participant groups: %s\n", strings.Join(groups, ", "))
	}
}

// printAction prints each call that acts (a POST to a study transition,
// a participant group or bulk approval) as it is answered.
func printAction(out *lockedWriter, c prolifictest.Call) {
	switch c.Route {
	case prolifictest.RouteTransitionStudy, prolifictest.RouteAddToParticipantGroup, prolifictest.RouteBulkApproveSubmissions:
		body := string(c.Body)
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		out.printf("prolific action: %s %s %s -> %d\n", c.Method, c.Path, body, c.Status)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
