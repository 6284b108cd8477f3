package prolifictest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/prolific"
)

// SimConfig describes a simulated study.
type SimConfig struct {
	WorkspaceID string
	StudyID     string // generated when empty
	Name        string
	Places      int
	// Duration is how long the study takes before scaling; the simulation
	// runs for about Duration/TimeScale of wall time. Zero runs flat out.
	Duration time.Duration
	// ReturnRate and TimeoutRate are the chances that a started participant
	// returns the study or times out instead of submitting; their sum must
	// stay below 0.95. RejectRate is the chance a reviewed submission is
	// rejected rather than approved.
	ReturnRate, TimeoutRate, RejectRate float64
	// HighReturnRate is the share of returned submissions (out of all, once
	// there are at least 10) above which study.has_high_return_rate is
	// emitted once; default 0.2.
	HighReturnRate float64
	// Seed makes the participants' choices repeatable.
	Seed int64
}

// SimResult summarises a finished simulation.
type SimResult struct {
	StudyID string
	// Submissions counts submissions by final status.
	Submissions   map[string]int
	PlacesTaken   int
	PlacesTotal   int
	EventsEmitted int
	// Status is the study's status at the end: COMPLETED, or PAUSED when
	// it was paused through the API.
	Status string
}

// SimulateStudy runs one study from creation to COMPLETED, emitting every
// webhook on the way: the study is created (UNPUBLISHED) and published
// (ACTIVE); participants reserve a place (RESERVED), start (ACTIVE) and then
// submit (AWAITING REVIEW), return (RETURNED) or time out (TIMED-OUT), freed
// places being taken by new participants; once every place is taken and no
// one is still working the study goes AWAITING REVIEW, the researcher
// approves or rejects each submission, and the study goes COMPLETED. Each
// transition changes the API's study, submissions and counts under one lock
// together with queueing its webhooks, so an API read never sees a state
// older than a delivered event.
//
// The study follows transitions made through the API as Prolific would: once
// PAUSED or STOPPED (COMPLETED) it recruits nobody new, the participants
// already in it finish, their submissions are reviewed, and the study keeps
// the status the API gave it. Submissions approved through the API in the
// meantime are not reviewed again.
func (f *Fake) SimulateStudy(ctx context.Context, cfg SimConfig) (SimResult, error) {
	if cfg.Places < 1 {
		return SimResult{}, fmt.Errorf("simulate study: places %d, want at least 1", cfg.Places)
	}
	for _, r := range []float64{cfg.ReturnRate, cfg.TimeoutRate, cfg.RejectRate} {
		if r < 0 || r > 1 {
			return SimResult{}, fmt.Errorf("simulate study: rate %v outside [0, 1]", r)
		}
	}
	if cfg.ReturnRate+cfg.TimeoutRate >= 0.95 {
		return SimResult{}, fmt.Errorf("simulate study: return rate + timeout rate %v, want below 0.95", cfg.ReturnRate+cfg.TimeoutRate)
	}
	if cfg.HighReturnRate <= 0 {
		cfg.HighReturnRate = 0.2
	}
	sim := &simulation{f: f, cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x70726f6c))}
	err := sim.run(ctx)
	return sim.result(), err
}

type simulation struct {
	f        *Fake
	cfg      SimConfig
	rng      *rand.Rand
	s        *study
	events   int
	inflight []*submission
	highSent bool
	pause    time.Duration
}

func (m *simulation) run(ctx context.Context) error {
	f, cfg := m.f, m.cfg
	f.mu.Lock()
	s, err := f.createStudyLocked(cfg.WorkspaceID, cfg.StudyID, cfg.Name, cfg.Places)
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("simulate study: %w", err)
	}
	m.s = s
	participants := float64(cfg.Places) / (1 - cfg.ReturnRate - cfg.TimeoutRate)
	steps := 3*participants + float64(cfg.Places) + 3
	m.pause = time.Duration(float64(f.opts.scale(cfg.Duration)) / steps)

	if err := m.step(ctx, func() (int, error) { return f.setStudyStatusLocked(s, StudyActive) }); err != nil {
		return err
	}
	maxInflight := min(max(1, cfg.Places/4), 50)
	// Past this many steps nobody returns or times out any more, so the loop
	// always ends.
	forceAfter := 20*cfg.Places + 100
	for n := 0; ; n++ {
		f.mu.Lock()
		free := s.totalPlaces - s.placesTaken()
		// A study paused or stopped through the API recruits nobody new;
		// those already taking part carry on.
		recruiting := s.status == StudyActive
		f.mu.Unlock()
		if (free == 0 || !recruiting) && len(m.inflight) == 0 {
			break
		}
		if free > 0 && recruiting && len(m.inflight) < maxInflight && (len(m.inflight) == 0 || m.rng.Float64() < 0.5) {
			err = m.step(ctx, m.reserve)
		} else {
			err = m.step(ctx, func() (int, error) { return m.advance(n > forceAfter) })
		}
		if err != nil {
			return err
		}
	}
	if err := m.step(ctx, func() (int, error) {
		if s.status != StudyActive {
			return 0, nil // paused or stopped: reviewed as it is
		}
		return f.setStudyStatusLocked(s, StudyAwaitingReview)
	}); err != nil {
		return err
	}
	f.mu.Lock()
	var review []*submission
	for _, sub := range s.subs {
		if sub.status == SubmissionAwaitingReview {
			review = append(review, sub)
		}
	}
	f.mu.Unlock()
	m.rng.Shuffle(len(review), func(i, j int) { review[i], review[j] = review[j], review[i] })
	for _, sub := range review {
		status := SubmissionApproved
		if m.rng.Float64() < cfg.RejectRate {
			status = SubmissionRejected
		}
		if err := m.step(ctx, func() (int, error) {
			if sub.status != SubmissionAwaitingReview {
				return 0, nil // already reviewed through the API (bulk approve)
			}
			return f.setSubmissionStatusLocked(s, sub, status)
		}); err != nil {
			return err
		}
	}
	return m.step(ctx, func() (int, error) {
		if s.status != StudyAwaitingReview {
			return 0, nil // a paused study stays PAUSED, a stopped one COMPLETED
		}
		return f.setStudyStatusLocked(s, StudyCompleted)
	})
}

// step applies one transition under the fake's lock, then waits the pace.
func (m *simulation) step(ctx context.Context, fn func() (int, error)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("simulate study: %w", err)
	}
	m.f.mu.Lock()
	n, err := fn()
	m.events += n
	m.f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("simulate study: %w", err)
	}
	if m.pause > 0 && !ctxwait.Sleep(ctx, m.pause) {
		return fmt.Errorf("simulate study: %w", ctx.Err())
	}
	return nil
}

// reserve adds a participant; f.mu held.
func (m *simulation) reserve() (int, error) {
	sub, n, err := m.f.addSubmissionLocked(m.s)
	if err == nil {
		m.inflight = append(m.inflight, sub)
	}
	return n, err
}

// advance moves a random in-flight participant one status on; f.mu held.
func (m *simulation) advance(force bool) (int, error) {
	i := m.rng.IntN(len(m.inflight))
	sub := m.inflight[i]
	if sub.status == SubmissionReserved {
		return m.f.setSubmissionStatusLocked(m.s, sub, SubmissionActive)
	}
	m.inflight = append(m.inflight[:i], m.inflight[i+1:]...)
	status := SubmissionAwaitingReview
	if r := m.rng.Float64(); !force && r < m.cfg.ReturnRate {
		status = SubmissionReturned
	} else if !force && r < m.cfg.ReturnRate+m.cfg.TimeoutRate {
		status = SubmissionTimedOut
	}
	n, err := m.f.setSubmissionStatusLocked(m.s, sub, status)
	if err != nil || status != SubmissionReturned || m.highSent {
		return n, err
	}
	c := m.s.counts()
	if c["TOTAL"] >= 10 && float64(c[SubmissionReturned])/float64(c["TOTAL"]) > m.cfg.HighReturnRate {
		m.highSent = true
		if _, err := m.f.emitLocked(m.s.workspaceID, prolific.EventStudyHighReturnRate, m.s.id, F("metadata", Object{})); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (m *simulation) result() SimResult {
	r := SimResult{StudyID: m.cfg.StudyID, Submissions: map[string]int{}, PlacesTotal: m.cfg.Places, EventsEmitted: m.events}
	if m.s == nil {
		return r
	}
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	r.StudyID = m.s.id
	for _, sub := range m.s.subs {
		r.Submissions[sub.status]++
	}
	r.PlacesTaken = m.s.placesTaken()
	r.Status = m.s.status
	return r
}
