package postgres_test

import (
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
	"github.com/prolific-receiver/receiver/internal/store/postgres/pgtest"
	"github.com/prolific-receiver/receiver/internal/store/storetest"
)

// TestContract runs the behavioural suite every backend passes, each case
// on its own schema.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		return open(t, pgtest.DSN(t), opts)
	})
}
