//go:build !unix

package sqlite

import "os"

// tryLock: without flock the file is not claimed (SQLite's own locking
// still keeps the data consistent; it only no longer refuses a second
// receiver up front).
func tryLock(*os.File) (bool, error) { return true, nil }
