package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/sqlite"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// openTemp opens a fresh database in a test directory, closed at cleanup.
func openTemp(t testing.TB, opts store.Options) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "sub", "receiver.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		return openTemp(t, opts)
	})
}

// TestContractKeyedEvents runs the suite with every batch writing its
// events' keys (eventkeys.go), where TestContract, with a few events per
// store, reads them all from the tail of events without keys.
func TestContractKeyedEvents(t *testing.T) {
	t.Cleanup(sqlite.SetKeysEvery(1))
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		return openTemp(t, opts)
	})
}

func TestContractOutputs(t *testing.T) {
	storetest.RunOutputs(t, func(t *testing.T) func(store.Options) store.Store {
		path := filepath.Join(t.TempDir(), "receiver.db")
		return func(opts store.Options) store.Store {
			db, err := sqlite.Open(path, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	})
}
