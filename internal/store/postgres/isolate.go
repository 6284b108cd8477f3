package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// isolatable reports whether a failed batch should be retried one event per
// transaction (backend.WithIsolate): only when PostgreSQL refused the data of
// some statement, a data exception (SQLSTATE class 22, e.g. a NUL byte or
// invalid UTF-8 in a text value) or an integrity constraint violation (class
// 23), which one event can cause without the others being at fault. Network
// errors, timeouts, connection exceptions (08), operator intervention
// (57, e.g. shutdown or a cancelled query) and everything else fail the
// whole batch at once, so an outage costs one failed commit per batch.
func isolatable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
}
