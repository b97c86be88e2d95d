package devserver

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/server/schema/sqlite"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cloudmarket/termination-orders/store"
)

// requireMode fails unless path has exactly the permissions want.
func requireMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
	}
}

// The status store holds e-mail addresses and reasons in clear: the dev
// command's data directory and every database file in it, -wal and -shm
// included, are its user's alone.
func TestDataDirectoryAndItsDatabasesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := prepareDataDir(dir, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	requireMode(t, dir, 0o700)

	_, sqlConfig, err := serverConfig(Options{DataDir: dir, IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.SetupSchema(sqlConfig); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "status.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Opening migrates the schema: the store has written, -wal and -shm exist.
	files, err := filepath.Glob(filepath.Join(dir, "*.db*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		seen[filepath.Base(f)] = true
		requireMode(t, f, 0o600)
	}
	for _, want := range []string{DatabaseFile, "status.db", "status.db-wal", "status.db-shm"} {
		if !seen[want] {
			t.Errorf("no %s among %v", want, files)
		}
	}
}

// A data directory written before, open to others, is made private, and
// each change is logged.
func TestExistingDataFilesOpenToOthersAreTightened(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"status.db", "status.db-wal", DatabaseFile, FormatFile} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zap.WarnLevel)
	if err := prepareDataDir(dir, zap.New(core)); err != nil {
		t.Fatal(err)
	}
	requireMode(t, dir, 0o700)
	for _, name := range []string{"status.db", "status.db-wal", DatabaseFile, FormatFile} {
		requireMode(t, filepath.Join(dir, name), 0o600)
	}
	if n := logs.FilterMessage("Data file was open to other users: made private").Len(); n != 5 {
		t.Errorf("%d warnings, want 5 (the directory and 4 files): %v", n, logs.All())
	}
}
