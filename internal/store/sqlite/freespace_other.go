//go:build !unix

package sqlite

// freeSpace is unknown here: a full disk is called usable again only by a
// commit that succeeds.
func freeSpace(string) (uint64, bool) { return 0, false }
