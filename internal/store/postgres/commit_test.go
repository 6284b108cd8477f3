package postgres_test

import (
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

// TestCommitBatchOutcomes commits one batch that mixes every case the
// batch insert resolves (a new event, a study learnt from the table and
// from the batch, one ID twice, a known ID, a replayed content) and checks
// each event's outcome, and that each stored event got the seq and study of
// its own row.
func TestCommitBatchOutcomes(t *testing.T) {
	db := open(t, pgtest.DSN(t), store.Options{})
	ctx := ctxT(t)
	known := event(submissionStatus, "sub-known", "ACTIVE", t0)
	known.StudyID = "study-1"
	replayed := event(studyStatus, "study-9", "ACTIVE", t0)
	for _, e := range []*store.Event{known, replayed} {
		if out, err := db.Save(ctx, e); err != nil || out != store.Stored {
			t.Fatalf("Save(%s) = %v, %v; want stored", e.ID, out, err)
		}
	}

	fromTable := event(submissionStatus, "sub-known", "AWAITING REVIEW", t0.Add(1))
	named := event(submissionStatus, "sub-new", "ACTIVE", t0.Add(2))
	named.StudyID = "study-2"
	fromBatch := event(submissionStatus, "sub-new", "RETURNED", t0.Add(3))
	first := event(studyProgress, "study-3", "", t0.Add(4))
	first.ID = "evt-twice"
	second := event(studyProgress, "study-3", "", t0.Add(5))
	second.ID = "evt-twice"
	knownID := event(studyStatus, "study-4", "ACTIVE", t0.Add(6))
	knownID.ID = known.ID
	replay := event(studyStatus, "study-9", "ACTIVE", t0)
	replay.ContentHash = replayed.ContentHash
	study := event(studyStatus, "study-5", "ACTIVE", t0.Add(7))
	// One ID twice: the first delivery's content is stored already (under
	// another ID), the second's is new, so the second is the one stored.
	shadowed := event(studyStatus, "study-6", "ACTIVE", t0.Add(8))
	shadowed.ID, shadowed.ContentHash = "evt-shadow", replayed.ContentHash
	shadowing := event(studyStatus, "study-7", "ACTIVE", t0.Add(9))
	shadowing.ID = "evt-shadow"
	// Listed against the insert's ID order, so a mix-up of positions shows.
	batch := []*store.Event{study, replay, knownID, second, first, fromBatch, named, fromTable, shadowed, shadowing}
	want := []struct {
		out   store.Outcome
		study string
	}{
		{store.Stored, "study-5"}, {store.Duplicate, ""}, {store.Duplicate, ""}, {store.Stored, "study-3"},
		{store.Duplicate, ""}, {store.Stored, "study-2"}, {store.Stored, "study-2"}, {store.Stored, "study-1"},
		{store.Duplicate, ""}, {store.Stored, "study-7"},
	}
	// second and first share an ID: the first of them in the batch's order
	// is stored, and with ID order the batch's order between them is kept.
	outcomes, err := postgres.Commit(ctx, db, batch)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	seqs := map[int64]bool{}
	for i, e := range batch {
		if outcomes[i] != want[i].out {
			t.Errorf("event %d (%s): outcome %v, want %v", i, e.ID, outcomes[i], want[i].out)
			continue
		}
		if outcomes[i] != store.Stored {
			if e.Seq != 0 {
				t.Errorf("event %d (%s): duplicate got Seq %d, want 0", i, e.ID, e.Seq)
			}
			continue
		}
		if e.StudyID != want[i].study {
			t.Errorf("event %d (%s): StudyID %q, want %q", i, e.ID, e.StudyID, want[i].study)
		}
		if seqs[e.Seq] {
			t.Errorf("event %d (%s): Seq %d given twice", i, e.ID, e.Seq)
		}
		seqs[e.Seq] = true
		got, err := db.Event(ctx, e.ID)
		if err != nil {
			t.Fatalf("Event(%s): %v", e.ID, err)
		}
		if got.Seq != e.Seq || got.ContentHash != e.ContentHash || got.StudyID != e.StudyID {
			t.Errorf("event %d (%s): stored row seq %d hash %q study %q, want seq %d hash %q study %q",
				i, e.ID, got.Seq, got.ContentHash, got.StudyID, e.Seq, e.ContentHash, e.StudyID)
		}
	}
	if got, err := db.Event(ctx, replay.ID); err != nil || got.ID != replayed.ID {
		t.Errorf("Event(replay) = %v, %v; want the replayed event %s (an alias)", got, err, replayed.ID)
	}
}
