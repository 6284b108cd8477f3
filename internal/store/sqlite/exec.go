package sqlite

import "context"

// execCount runs q on the writer connection outside a batch and returns
// how many rows it changed; op names the call in errors.
func (db *DB) execCount(ctx context.Context, op, q string, args ...any) (int, error) {
	res, err := db.write.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, db.wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, db.wrap(op, err)
	}
	return int(n), nil
}
