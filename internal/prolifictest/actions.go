package prolifictest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// MaxBulkApprove is the most IDs one bulk-approve request may carry here:
// Prolific recommends at most 1,000, and the fake refuses more (400).
const MaxBulkApprove = 1000

// studyTransitions is the OpenAPI table of POST /studies/{id}/transition/:
// action → the statuses it applies to and the status it leads to.
var studyTransitions = map[string]struct {
	from []string
	to   string
}{
	"PUBLISH":          {from: []string{StudyUnpublished}, to: StudyActive},
	"SCHEDULE_PUBLISH": {from: []string{StudyUnpublished}, to: StudyScheduled},
	"CANCEL_PUBLISH":   {from: []string{StudyScheduled}, to: StudyUnpublished},
	"PAUSE":            {from: []string{StudyActive}, to: StudyPaused},
	"STOP":             {from: []string{StudyActive, StudyPaused}, to: StudyCompleted},
	"START":            {from: []string{StudyPaused}, to: StudyActive},
}

// handleTransitionStudy serves POST /api/v1/studies/{id}/transition/
// ({"action": ...}, plus "publish_at" for SCHEDULE_PUBLISH). Only the
// OpenAPI table's transitions are allowed; anything else is 400 and leaves
// the study as it was. A transition emits study.status.change, and the
// answer is the study after it.
func (f *Fake) handleTransitionStudy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Action    string `json:"action"`
		PublishAt string `json:"publish_at"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	t, ok := studyTransitions[req.Action]
	if !ok {
		writeError(w, http.StatusBadRequest, fieldError("action", fmt.Sprintf("\"%s\" is not a valid choice.", req.Action)))
		return
	}
	if req.Action == "SCHEDULE_PUBLISH" {
		if _, err := time.Parse(time.RFC3339, req.PublishAt); err != nil {
			writeError(w, http.StatusBadRequest, fieldError("publish_at", "A valid ISO 8601 datetime is required to schedule a study."))
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := lookup(w, r, f.studies, "Study not found.")
	if !ok {
		return
	}
	allowed := false
	for _, from := range t.from {
		allowed = allowed || s.status == from
	}
	if !allowed {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Cannot %s a study whose status is %s.", req.Action, s.status))
		return
	}
	if _, err := f.setStudyStatusLocked(s, t.to); err != nil {
		writeError(w, http.StatusInternalServerError, "Could not record the transition.")
		return
	}
	writeJSON(w, http.StatusOK, f.studyJSONLocked(s))
}

// handleBulkApprove serves POST /api/v1/submissions/bulk-approve/ in both
// documented forms: {"submission_ids": [...]} or {"study_id": ...,
// "participant_ids": [...]}. Prolific does not document what happens when
// some submissions cannot be approved; the fake takes the strictest reading:
// the whole request is refused (400, each offending ID named, nothing
// approved) when any ID is unknown or its submission is not AWAITING
// REVIEW, or when it carries more than MaxBulkApprove IDs. Otherwise every
// submission is APPROVED (emitting submission.status.change each) before
// the answer, the JSON string "Bulk approve in progress".
func (f *Fake) handleBulkApprove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SubmissionIDs  []string `json:"submission_ids"`
		StudyID        string   `json:"study_id"`
		ParticipantIDs []string `json:"participant_ids"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	byParticipant := req.SubmissionIDs == nil
	ids := req.SubmissionIDs
	field := "submission_ids"
	if byParticipant {
		ids, field = req.ParticipantIDs, "participant_ids"
		if req.StudyID == "" {
			writeError(w, http.StatusBadRequest, map[string][]string{
				"submission_ids": {"Provide submission_ids, or study_id with participant_ids."}})
			return
		}
	}
	if len(ids) == 0 {
		writeError(w, http.StatusBadRequest, fieldError(field, "This list may not be empty."))
		return
	}
	if len(ids) > MaxBulkApprove {
		writeError(w, http.StatusBadRequest, fieldError(field, fmt.Sprintf("At most %d IDs per request.", MaxBulkApprove)))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var subs []*submission
	var problems []string
	seen := map[*submission]bool{}
	for _, id := range ids {
		sub := f.findSubmissionLocked(byParticipant, req.StudyID, id)
		switch {
		case sub == nil:
			problems = append(problems, fmt.Sprintf("%s: not found.", id))
		case sub.status != SubmissionAwaitingReview:
			problems = append(problems, fmt.Sprintf("%s: status is %s, not AWAITING REVIEW.", id, sub.status))
		case !seen[sub]:
			seen[sub] = true
			subs = append(subs, sub)
		}
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, map[string][]string{field: problems})
		return
	}
	for _, sub := range subs {
		if _, err := f.setSubmissionStatusLocked(f.studies[sub.studyID], sub, SubmissionApproved); err != nil {
			writeError(w, http.StatusInternalServerError, "Could not record the approval.")
			return
		}
	}
	writeJSON(w, http.StatusOK, "Bulk approve in progress")
}

// findSubmissionLocked looks a submission up by ID, or by participant within a study.
func (f *Fake) findSubmissionLocked(byParticipant bool, studyID, id string) *submission {
	if !byParticipant {
		return f.submissions[id]
	}
	s, ok := f.studies[studyID]
	if !ok {
		return nil
	}
	for _, sub := range s.subs {
		if sub.participantID == id {
			return sub
		}
	}
	return nil
}

// participantGroup is a named set of participants.
type participantGroup struct {
	id, workspaceID, name string
	members               []groupMember
	index                 map[string]bool
}

type groupMember struct {
	participantID string
	added         time.Time
}

type membershipJSON struct {
	ParticipantID   string `json:"participant_id"`
	DatetimeCreated string `json:"datetime_created"`
}

func (g *participantGroup) json() map[string]any {
	out := make([]membershipJSON, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, membershipJSON{ParticipantID: m.participantID, DatetimeCreated: isoTime(m.added)})
	}
	return map[string]any{"results": out}
}

// CreateParticipantGroup adds an empty participant group to the workspace
// and returns its ID; id "" generates one.
func (f *Fake) CreateParticipantGroup(workspaceID, id, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.workspaces[workspaceID]; !ok {
		return "", fmt.Errorf("create participant group: unknown workspace %q", workspaceID)
	}
	if id == "" {
		id = NewID()
	}
	if _, ok := f.groups[id]; ok {
		return "", fmt.Errorf("create participant group: group %q already exists", id)
	}
	f.groups[id] = &participantGroup{id: id, workspaceID: workspaceID, name: name, index: map[string]bool{}}
	return id, nil
}

// GroupMembers returns the participant IDs in the group in the order they
// were added, or false if there is no such group.
func (f *Fake) GroupMembers(groupID string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[groupID]
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m.participantID)
	}
	return out, true
}

// handleAddToGroup serves POST /api/v1/participant-groups/{id}/participants/
// ({"participant_ids": [...]}): participants not yet members are appended,
// those already in the group are ignored, as documented. The answer lists
// every member. An unknown group is 404; an empty list or ID is 400. Any
// other participant ID is accepted (Prolific documents no check).
func (f *Fake) handleAddToGroup(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ParticipantIDs []string `json:"participant_ids"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if len(req.ParticipantIDs) == 0 {
		writeError(w, http.StatusBadRequest, fieldError("participant_ids", "This list may not be empty."))
		return
	}
	for _, id := range req.ParticipantIDs {
		if strings.TrimSpace(id) == "" {
			writeError(w, http.StatusBadRequest, fieldError("participant_ids", "This field may not be blank."))
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := lookup(w, r, f.groups, "Participant group not found.")
	if !ok {
		return
	}
	now := f.now()
	for _, id := range req.ParticipantIDs {
		if !g.index[id] {
			g.index[id] = true
			g.members = append(g.members, groupMember{participantID: id, added: now})
		}
	}
	writeJSON(w, http.StatusOK, g.json())
}

// handleGroupMembers serves GET /api/v1/participant-groups/{id}/participants/.
func (f *Fake) handleGroupMembers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := lookup(w, r, f.groups, "Participant group not found."); ok {
		writeJSON(w, http.StatusOK, g.json())
	}
}

// ParticipantGroups returns the IDs of every group, sorted.
func (f *Fake) ParticipantGroups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.groups))
	for id := range f.groups {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
