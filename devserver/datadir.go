package devserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
