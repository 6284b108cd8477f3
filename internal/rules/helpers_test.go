package rules

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/prolific-receiver/receiver/internal/notify"
	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// opener opens one database (the same one each call).
type opener func(t *testing.T) store.Store

// forEachStore runs fn against a fresh SQLite file and a fresh PostgreSQL
// schema (skipped without RECEIVER_TEST_POSTGRES_DSN, see pgtest).
func forEachStore(t *testing.T, clock *storetest.Clock, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "receiver.db")
		fn(t, func(t *testing.T) store.Store {
			db, err := sqlite.Open(path, store.Options{Now: clock.Now})
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		fn(t, func(t *testing.T) store.Store {
			db, err := postgres.Open(context.Background(), dsn, store.Options{Now: clock.Now})
			if err != nil {
				t.Fatalf("postgres.Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call is one request the fake Prolific received.
type call struct {
	Kind string // transition, group, approve
	ID   string // study or group
	Arg  string // transition action
	IDs  []string
}

// fakeProlific records calls; fail, when set, answers each call first.
type fakeProlific struct {
	mu    sync.Mutex
	calls []call
	fail  func(c call) error
}

func (f *fakeProlific) record(c call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(c); err != nil {
			return err
		}
	}
	f.calls = append(f.calls, c)
	return nil
}

func (f *fakeProlific) TransitionStudy(_ context.Context, id, action string) (string, error) {
	return "ok", f.record(call{Kind: "transition", ID: id, Arg: action})
}

func (f *fakeProlific) AddParticipantsToGroup(_ context.Context, group string, ids []string) (string, error) {
	return "ok", f.record(call{Kind: "group", ID: group, IDs: ids})
}

func (f *fakeProlific) BulkApproveSubmissions(_ context.Context, ids []string) (string, error) {
	return "Bulk approve in progress", f.record(call{Kind: "approve", IDs: ids})
}

func (f *fakeProlific) StudyStatus(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.Kind == "transition" && c.ID == id {
			return "PAUSED", nil
		}
	}
	return "ACTIVE", nil
}

func (f *fakeProlific) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// fakeSender records messages.
type fakeSender struct {
	mu   sync.Mutex
	msgs []notify.Message
	fail func() error
}

func (s *fakeSender) Send(_ context.Context, m notify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(); err != nil {
			return err
		}
	}
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *fakeSender) Messages() []notify.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Message(nil), s.msgs...)
}

// parse parses a rules file with FOLLOWUP_GROUP_ID=group-1 and
// SLACK_WEBHOOK_URL set.
func parse(t *testing.T, src string) *Config {
	t.Helper()
	env := map[string]string{"FOLLOWUP_GROUP_ID": "group-1", "SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T/B/secret-token"}
	c, err := Parse([]byte(strings.TrimLeft(src, "\n")), func(k string) string { return env[k] }, []string{"lab"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// rig is an engine on a store with a fake Prolific and a fake sender.
type rig struct {
	st     store.Store
	eng    *Engine
	pro    *fakeProlific
	sender *fakeSender
	clock  *storetest.Clock
}

func newRig(t *testing.T, st store.Store, clock *storetest.Clock, cfg *Config, mode Mode, pro *fakeProlific, sender *fakeSender) *rig {
	eng := New(cfg, Options{Mode: mode, Approve: true, Store: st, Prolific: pro, Senders: map[string]notify.Sender{"slack": sender},
		Log: zerolog.Nop(), Now: clock.Now, PollInterval: 10 * time.Millisecond, BackoffBase: time.Second, BackoffMax: time.Minute, MaxAttempts: 4})
	return &rig{st: st, eng: eng, pro: pro, sender: sender, clock: clock}
}

// startedRig is newRig after the engine's first evaluation pass, which
// places its cursor at the feed's end: what is saved after it is decided on.
func startedRig(t *testing.T, st store.Store, clock *storetest.Clock, cfg *Config, mode Mode, pro *fakeProlific, sender *fakeSender) *rig {
	t.Helper()
	r := newRig(t, st, clock, cfg, mode, pro, sender)
	r.evaluate(t)
	return r
}

// evaluate runs one evaluation pass over the stored events.
func (r *rig) evaluate(t *testing.T) {
	t.Helper()
	if err := r.eng.EvaluateEvents(testCtx(t)); err != nil {
		t.Fatalf("EvaluateEvents: %v", err)
	}
}

// settle evaluates stored events and carries out every due action.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	r.evaluate(t)
	for {
		n, err := r.eng.ExecuteDue(testCtx(t))
		if err != nil {
			t.Logf("ExecuteDue: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

func save(t *testing.T, st store.Store, e *store.Event) store.Outcome {
	t.Helper()
	o, err := st.Save(testCtx(t), e)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	return o
}

func actions(t *testing.T, st store.Store, f store.ActionFilter) []store.Action {
	t.Helper()
	as, err := st.Actions(testCtx(t), f)
	if err != nil {
		t.Fatalf("Actions: %v", err)
	}
	return as
}

func outcomes(as []store.Action) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Rule+":"+a.Outcome]++
	}
	return m
}
