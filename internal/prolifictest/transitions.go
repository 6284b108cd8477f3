package prolifictest

import (
	"fmt"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// CreateStudy adds an UNPUBLISHED study with places places to the workspace
// and returns its ID; id "" generates one. Creating a study emits nothing.
func (f *Fake) CreateStudy(workspaceID, id, name string, places int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.createStudyLocked(workspaceID, id, name, places)
	if err != nil {
		return "", err
	}
	return s.id, nil
}

func (f *Fake) createStudyLocked(workspaceID, id, name string, places int) (*study, error) {
	if _, ok := f.workspaces[workspaceID]; !ok {
		return nil, fmt.Errorf("create study: unknown workspace %q", workspaceID)
	}
	if places < 1 {
		return nil, fmt.Errorf("create study: places %d, want at least 1", places)
	}
	if id == "" {
		id = NewID()
	}
	if _, ok := f.studies[id]; ok {
		return nil, fmt.Errorf("create study: study %q already exists", id)
	}
	s := &study{id: id, workspaceID: workspaceID, name: name, status: StudyUnpublished, totalPlaces: places, created: f.now()}
	f.studies[id] = s
	return s, nil
}

// SetStudyStatus moves a study to status and emits study.status.change
// (metadata {}). Any status string is accepted, as tests may need odd ones.
func (f *Fake) SetStudyStatus(studyID, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.studies[studyID]
	if !ok {
		return fmt.Errorf("set study status: unknown study %q", studyID)
	}
	_, err := f.setStudyStatusLocked(s, status)
	return err
}

// setStudyStatusLocked returns the number of events emitted.
func (f *Fake) setStudyStatusLocked(s *study, status string) (int, error) {
	s.status = status
	if status == StudyActive && s.published == nil {
		now := f.now()
		s.published = &now
	}
	if _, err := f.emitLocked(s.workspaceID, prolific.EventStudyStatusChange, s.id,
		F("metadata", Object{}), F("status", status)); err != nil {
		return 0, err
	}
	return 1, nil
}

// AddSubmission reserves a place in the study for a new participant: a
// RESERVED submission, emitting submission.status.change and
// study.progress.change. It returns the submission ID.
func (f *Fake) AddSubmission(studyID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.studies[studyID]
	if !ok {
		return "", fmt.Errorf("add submission: unknown study %q", studyID)
	}
	sub, _, err := f.addSubmissionLocked(s)
	if err != nil {
		return "", err
	}
	return sub.id, nil
}

func (f *Fake) addSubmissionLocked(s *study) (*submission, int, error) {
	sub := &submission{id: NewID(), studyID: s.id, participantID: NewID(), status: SubmissionReserved, started: f.now()}
	s.subs = append(s.subs, sub)
	f.submissions[sub.id] = sub
	n, err := f.emitSubmissionLocked(s, sub, true)
	return sub, n, err
}

// SetSubmissionStatus moves a submission to status and emits
// submission.status.change, plus study.progress.change when the study's
// places or completed submissions change.
func (f *Fake) SetSubmissionStatus(submissionID, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub, ok := f.submissions[submissionID]
	if !ok {
		return fmt.Errorf("set submission status: unknown submission %q", submissionID)
	}
	_, err := f.setSubmissionStatusLocked(f.studies[sub.studyID], sub, status)
	return err
}

func (f *Fake) setSubmissionStatusLocked(s *study, sub *submission, status string) (int, error) {
	before := s.placesTaken()
	sub.status = status
	progress := s.placesTaken() != before
	if status == SubmissionAwaitingReview {
		now := f.now()
		sub.completed = &now
		progress = true
	}
	return f.emitSubmissionLocked(s, sub, progress)
}

func (f *Fake) emitSubmissionLocked(s *study, sub *submission, progress bool) (int, error) {
	if _, err := f.emitLocked(s.workspaceID, prolific.EventSubmissionStatusChange, sub.id,
		F("participant_id", sub.participantID), F("status", sub.status)); err != nil {
		return 0, err
	}
	if !progress {
		return 1, nil
	}
	if _, err := f.emitLocked(s.workspaceID, prolific.EventStudyProgressChange, s.id); err != nil {
		return 1, err
	}
	return 2, nil
}

// RotateSecret replaces the workspace's signing secret, as POST
// /hooks/secrets/ does, and returns the new value. Deliveries still being
// retried are signed with the new secret from their next attempt on.
func (f *Fake) RotateSecret(workspaceID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws, ok := f.workspaces[workspaceID]
	if !ok {
		return "", fmt.Errorf("rotate secret: unknown workspace %q", workspaceID)
	}
	ws.secret = &secretRecord{id: NewID(), value: newSecret()}
	return ws.secret.value, nil
}
