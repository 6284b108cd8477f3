package postgres_test

import (
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
)

func TestSmoke(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.DSN(t), store.Options{Enrich: true})
	ctx := ctxT(t)
	e := event(studyStatus, "s1", "ACTIVE", t0)
	got, err := db.Save(ctx, e)
	if err != nil || got != store.Stored {
		t.Fatalf("Save = %v, %v; want stored", got, err)
	}
	got, err = db.Save(ctx, e)
	if err != nil || got != store.Duplicate {
		t.Fatalf("Save again = %v, %v; want duplicate", got, err)
	}
	s, err := db.Study(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
	ev, err := db.Event(ctx, e.ID)
	t.Logf("%+v %v", ev, err)
	qs, err := db.QueueStats(ctx)
	t.Logf("%+v %v", qs, err)
}
