//go:build unix

package devserver

import "syscall"

// makeFilesPrivate makes every file the dev command creates from now on its
// own alone (umask 077): the status store holds customers' e-mail addresses
// and reasons in clear. SQLite gives a database's -wal and -shm files the
// mode of the database.
func makeFilesPrivate() { syscall.Umask(0o077) }
