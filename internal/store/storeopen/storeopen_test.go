package storeopen

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/prolific-receiver/receiver/internal/store"
)

func TestOpen(t *testing.T) {
	st, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "r.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open(sqlite:...) = %v", err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	st.Close()
	if _, err := Open(context.Background(), "mysql://x", store.Options{}); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Open(mysql://x) = %v, want ErrUnknownKind", err)
	}
	if _, err := Open(context.Background(), "sqlite:", store.Options{}); err == nil {
		t.Error("Open(sqlite:) succeeded, want an error asking for a path")
	}
	if Kind("sqlite:x") != "sqlite" || Kind("postgres://h/db") != "postgres" {
		t.Error("Kind misnames a backend")
	}
}
