//go:build !unix

package sqlite

import "errors"

// Without a unix VFS file descriptor to sync apart, syncs are never deferred.

func dupDescriptor(uintptr, string) (fileID, int, bool) { return fileID{}, -1, false }

func statID(string) (fileID, bool) { return fileID{}, false }

func closeFD(int) {}

var walFsync = func(int) error { return errors.New("sync WAL: not supported here") }
