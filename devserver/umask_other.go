//go:build !unix

package devserver

// makeFilesPrivate does nothing where there is no umask (Windows): files
// there take the data directory's access control list.
func makeFilesPrivate() {}
