package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prolific-receiver/receiver/internal/reconcile"
)

// fakeReconciler records the request it was given and answers with sum, err.
type fakeReconciler struct {
	got reconcile.Request
	sum reconcile.Summary
	err error
}

func (f *fakeReconciler) Run(_ context.Context, req reconcile.Request) (reconcile.Summary, error) {
	f.got = req
	return f.sum, f.err
}

func TestReconcileEndpoint(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		query    string
		rec      *fakeReconciler
		nilRec   bool
		wantCode int
		wantReq  reconcile.Request
	}{
		{name: "full pass", rec: &fakeReconciler{sum: reconcile.Summary{Stored: 3}}, wantCode: http.StatusOK},
		{name: "study dry run", query: "?study=s1&dry_run=true", rec: &fakeReconciler{}, wantCode: http.StatusOK,
			wantReq: reconcile.Request{StudyID: "s1", DryRun: true}},
		{name: "since duration", query: "?since=72h&all_statuses=1&subscription=sub", rec: &fakeReconciler{}, wantCode: http.StatusOK,
			wantReq: reconcile.Request{SubscriptionID: "sub", Since: now.Add(-72 * time.Hour), AllStatuses: true}},
		{name: "since time", query: "?since=2025-02-01T00:00:00Z", rec: &fakeReconciler{}, wantCode: http.StatusOK,
			wantReq: reconcile.Request{Since: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)}},
		{name: "prolific unreadable", rec: &fakeReconciler{err: errors.New("prolific hooks.subscriptions.events: 403 Forbidden")},
			wantCode: http.StatusBadGateway},
		{name: "bad since", query: "?since=-1h", rec: &fakeReconciler{}, wantCode: http.StatusBadRequest},
		{name: "bad bool", query: "?dry_run=maybe", rec: &fakeReconciler{}, wantCode: http.StatusBadRequest},
		{name: "both filters", query: "?study=a&subscription=b", rec: &fakeReconciler{}, wantCode: http.StatusBadRequest},
		{name: "no token", nilRec: true, wantCode: http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestReceiver(t, func(d *Deps) {
				d.Now = func() time.Time { return now }
				if !tc.nilRec {
					d.Reconciler = tc.rec
				}
			})
			req, _ := http.NewRequest(http.MethodPost, tr.admin.URL+"/api/v1/reconcile"+tc.query, nil)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(HeaderRequestedBy, "test")
			code, body := do(t, req)
			if code != tc.wantCode {
				t.Fatalf("POST = %d %s, want %d", code, body, tc.wantCode)
			}
			if code != http.StatusOK && code != http.StatusBadGateway {
				return
			}
			if d := cmp.Diff(tc.wantReq, tc.rec.got); d != "" {
				t.Errorf("request (-want +got):\n%s", d)
			}
			var res ReconcileResponse
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if res.Summary.Stored != tc.rec.sum.Stored || (tc.rec.err != nil) != (res.Error != "") {
				t.Errorf("response = %+v, want the summary and the error", res)
			}
		})
	}
}
