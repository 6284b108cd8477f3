package sqlite

import (
	"errors"

	sqlite3 "modernc.org/sqlite/lib"
)

// isolatable reports whether a failed batch should be retried one event per
// transaction (backend.WithIsolate): only when SQLite refused one statement's
// data (a constraint, a datatype mismatch, a value too big), which one
// event can cause without the others being at fault. Busy or locked
// databases, I/O errors, a full disk, a closed connection and everything
// else fail the whole batch at once.
func isolatable(err error) bool {
	var sqErr resultCoder
	if !errors.As(err, &sqErr) {
		return false
	}
	switch sqErr.Code() & 0xff { // the primary result code of an extended one
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
		return true
	}
	return false
}

// resultCoder is an error carrying SQLite's (extended) result code: the
// driver's *sqlite.Error, or rawError from the events INSERT.
type resultCoder interface {
	error
	Code() int
}
