package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsolatable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"NUL in text (22021)", &pgconn.PgError{Code: "22021"}, true},
		{"value too long (22001)", &pgconn.PgError{Code: "22001"}, true},
		{"not null violation (23502), wrapped", fmt.Errorf("commit batch: insert event: %w", &pgconn.PgError{Code: "23502"}), true},
		{"check violation (23514)", &pgconn.PgError{Code: "23514"}, true},
		{"connection failure (08006)", &pgconn.PgError{Code: "08006"}, false},
		{"admin shutdown (57P01)", &pgconn.PgError{Code: "57P01"}, false},
		{"query cancelled (57014)", &pgconn.PgError{Code: "57014"}, false},
		{"serialization failure (40001)", &pgconn.PgError{Code: "40001"}, false},
		{"disk full (53100)", &pgconn.PgError{Code: "53100"}, false},
		{"deadline", fmt.Errorf("commit batch: %w", context.DeadlineExceeded), false},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, false},
		{"plain", errors.New("insert conflicted but no event holds its ID or content"), false},
	}
	for _, tt := range tests {
		if got := isolatable(tt.err); got != tt.want {
			t.Errorf("isolatable(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
