package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// FormatFile marks a data directory with the format of the orders in it.
// Builds before 1.0 wrote none: their orders' histories carry workflow
// versions that 1.0 no longer has, and a 1.0 worker would fail their
// workflow tasks one by one.
const FormatFile = "FORMAT"

// dataFormat is what this build writes to FormatFile and runs.
const dataFormat = "termination-orders 1"

// ErrDataFormat is returned when the data directory holds orders this build
// cannot run.
var ErrDataFormat = errors.New("data directory of another build")

// checkDataFormat refuses a data directory whose Temporal database was
// written by a build whose orders this one cannot run, saying what to do,
// and marks a new one with this build's format. Nothing in it is changed
// when it is refused.
func checkDataFormat(dir string) error {
	marker := filepath.Join(dir, FormatFile)
	b, err := os.ReadFile(marker)
	switch {
	case err == nil && strings.TrimSpace(string(b)) == dataFormat:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s says %q, this build runs %q; start it with the build that wrote it, or use another --data-dir",
			ErrDataFormat, marker, strings.TrimSpace(string(b)), dataFormat)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, DatabaseFile)); err == nil {
		return fmt.Errorf("%w: %s holds orders of a build before 1.0 (it has %s and no %s), whose workflow this build no longer runs. "+
			"Nothing was changed. Start afresh with another --data-dir, or move it aside (mv %s %s.pre-1.0) and start again",
			ErrDataFormat, dir, DatabaseFile, FormatFile, dir, dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return os.WriteFile(marker, []byte(dataFormat+"\n"), 0o600)
}

// prepareDataDir makes the data directory private before anything is
// written to it: created 0700, with every file created from now on 0600.
// A directory or file left open to others by an earlier build, or by hand,
// is tightened, with a warning; one that cannot be (another user's) is
// warned about and used as it is.
func prepareDataDir(dir string, log *zap.Logger) error {
	makeFilesPrivate()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dev server data directory: %w", err)
	}
	tighten(dir, 0o700, log)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("dev server data directory: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			tighten(filepath.Join(dir, e.Name()), 0o600, log)
		}
	}
	return nil
}

// tighten takes from path every permission that mode does not give.
func tighten(path string, mode fs.FileMode, log *zap.Logger) {
	info, err := os.Stat(path)
	if err != nil {
		log.Warn("Data file not checked", zap.String("path", path), zap.Error(err))
		return
	}
	was := info.Mode().Perm()
	if was&^mode == 0 {
		return
	}
	if err := os.Chmod(path, was&mode); err != nil {
		log.Warn("Data file is open to other users and could not be made private", zap.String("path", path),
			zap.String("mode", was.String()), zap.Error(err))
		return
	}
	log.Warn("Data file was open to other users: made private", zap.String("path", path),
		zap.String("was", was.String()), zap.String("now", (was&mode).String()))
}
