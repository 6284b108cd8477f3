package prolific

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Study transition actions (OpenAPI StudyTransitionAction). Prolific allows
// PAUSE and STOP from ACTIVE, START and STOP from PAUSED, PUBLISH and
// SCHEDULE_PUBLISH from UNPUBLISHED, CANCEL_PUBLISH from SCHEDULED.
const (
	TransitionPublish         = "PUBLISH"
	TransitionSchedulePublish = "SCHEDULE_PUBLISH"
	TransitionCancelPublish   = "CANCEL_PUBLISH"
	TransitionPause           = "PAUSE"
	TransitionStart           = "START"
	TransitionStop            = "STOP"
)

// transitionTargets maps each action to the status it leads to.
var transitionTargets = map[string]string{
	TransitionPublish:         "ACTIVE",
	TransitionSchedulePublish: "SCHEDULED",
	TransitionCancelPublish:   "UNPUBLISHED",
	TransitionPause:           "PAUSED",
	TransitionStart:           "ACTIVE",
	TransitionStop:            "COMPLETED",
}

// TransitionTarget returns the status a study has after action succeeds
// (PAUSE → PAUSED, STOP → COMPLETED, ...), false for an unknown action. A
// caller whose transition failed ambiguously can read the study and compare.
func TransitionTarget(action string) (string, bool) {
	s, ok := transitionTargets[action]
	return s, ok
}

// MaxBulkApprove is the most submission IDs BulkApproveSubmissions sends in
// one call: Prolific recommends at most 1,000 per request.
const MaxBulkApprove = 1000

// ErrTooManyIDs is returned, without any request, for a bulk call with more
// IDs than one request may carry.
var ErrTooManyIDs = errors.New("too many ids for one request")

// errInvalid marks requests refused before sending (empty IDs, unknown
// action): IsPermanent is true for them.
var errInvalid = errors.New("invalid request")

// TransitionStudy asks Prolific to move a study to another status
// (POST /api/v1/studies/{id}/transition/ with {"action": action}) and
// returns the study as Prolific answers it. action is one of the
// Transition* constants; SCHEDULE_PUBLISH is refused here because it needs
// a publish_at this call does not send.
//
// A transition is not idempotent (a PAUSE repeated after it worked is a 400,
// the study being PAUSED by then), so it is retried only when Prolific
// surely did not act: 429, 503 or a connection never made. After any other
// failure the caller should read the study (Study) and compare its status
// with TransitionTarget(action) before trying again.
func (c *Client) TransitionStudy(ctx context.Context, studyID, action string) (Study, error) {
	const ep = "studies.transition"
	if studyID == "" {
		return Study{}, fmt.Errorf("prolific %s: study id: %w", ep, errEmptyID)
	}
	switch action {
	case TransitionPublish, TransitionCancelPublish, TransitionPause, TransitionStart, TransitionStop:
	default:
		return Study{}, fmt.Errorf("prolific %s: action %q: %w (want PAUSE, STOP, START, PUBLISH or CANCEL_PUBLISH)", ep, action, errInvalid)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodPost,
		path: "/api/v1/studies/" + url.PathEscape(studyID) + "/transition/",
		body: map[string]string{"action": action}, create: true})
	if err != nil {
		return Study{}, err
	}
	var s Study
	if len(res.body) == 0 {
		return Study{ID: studyID}, nil
	}
	return s, decode(ep, res.body, &s)
}

// GroupMember is one member of a participant group
// (ParticipantGroupMembership).
type GroupMember struct {
	ParticipantID string `json:"participant_id"`
	// DatetimeCreated is when the participant was added, as Prolific writes it.
	DatetimeCreated string `json:"datetime_created,omitempty"`
}

// AddParticipantsToGroup appends participants to a participant group
// (POST /api/v1/participant-groups/{id}/participants/ with
// {"participant_ids": [...]}); Prolific ignores those already members. It
// returns the members Prolific lists in its answer. Duplicate IDs are sent
// once; an empty list or an empty ID is refused without a request.
//
// Adding is idempotent, so every failure that may pass (429, 5xx, network)
// is retried.
func (c *Client) AddParticipantsToGroup(ctx context.Context, groupID string, participantIDs []string) ([]GroupMember, error) {
	const ep = "participant_groups.add"
	if groupID == "" {
		return nil, fmt.Errorf("prolific %s: participant group id: %w", ep, errEmptyID)
	}
	ids, err := uniqueIDs(ep, "participant", participantIDs)
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodPost,
		path: "/api/v1/participant-groups/" + url.PathEscape(groupID) + "/participants/",
		body: map[string][]string{"participant_ids": ids}})
	if err != nil {
		return nil, err
	}
	if len(res.body) == 0 {
		return nil, nil
	}
	return decodeList[GroupMember](ep, res.body)
}

// BulkApproveSubmissions approves submissions by ID
// (POST /api/v1/submissions/bulk-approve/ with {"submission_ids": [...]}),
// the form Prolific recommends over study + participant IDs. At most
// MaxBulkApprove IDs go in one call: more is ErrTooManyIDs, without a
// request, so the caller splits them and sends the calls one after the
// other (Prolific's advice for wallet contention). Duplicate IDs are sent
// once. It returns Prolific's answer, a message such as "Bulk approve in
// progress": the approval itself happens asynchronously.
//
// Approving moves money, so it is retried only when Prolific surely did
// not act: 429, 503 or a connection never made.
func (c *Client) BulkApproveSubmissions(ctx context.Context, submissionIDs []string) (string, error) {
	const ep = "submissions.bulk_approve"
	ids, err := uniqueIDs(ep, "submission", submissionIDs)
	if err != nil {
		return "", err
	}
	if len(ids) > MaxBulkApprove {
		return "", fmt.Errorf("prolific %s: %d submission ids, at most %d per call: %w", ep, len(ids), MaxBulkApprove, ErrTooManyIDs)
	}
	res, err := c.do(ctx, call{endpoint: ep, method: http.MethodPost, path: "/api/v1/submissions/bulk-approve/",
		body: map[string][]string{"submission_ids": ids}, create: true})
	if err != nil {
		return "", err
	}
	var msg string
	if json.Unmarshal(res.body, &msg) == nil {
		return truncate(msg, maxDetail), nil
	}
	return truncate(strings.Join(strings.Fields(string(res.body)), " "), maxDetail), nil
}

// uniqueIDs drops repeated IDs, keeping the first order, and refuses an
// empty list or an empty ID.
func uniqueIDs(ep, kind string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("prolific %s: no %s ids: %w", ep, kind, errInvalid)
	}
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("prolific %s: %s id: %w", ep, kind, errEmptyID)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// IsPermanent reports whether err is a failure that repeating the same call
// cannot fix: a 4xx answer other than 429 (Prolific refused the request:
// wrong state, unknown ID, bad token) or a request refused before sending
// (empty, "." or ".." or too many IDs, unknown action). 429, 5xx, network failures and
// timeouts are not permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errEmptyID) || errors.Is(err, errInvalid) || errors.Is(err, ErrTooManyIDs) || errors.Is(err, ErrBadPathID) {
		return true
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 400 && apiErr.StatusCode <= 499 && apiErr.StatusCode != http.StatusTooManyRequests
	}
	return false
}
