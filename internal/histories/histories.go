// Package histories is the replay corpus of the workflow: every release's
// recorded histories, under workflows/testdata/replay/<release>/, and the
// fingerprint of the workflow code each release was recorded from.
//
// The fingerprint is what lets CI catch a workflow change made without its
// histories: workflows/replay_test.go fails when the workflow code no longer
// matches the newest release's fingerprint. It covers the code, not its
// comments or layout, so a comment or gofmt changes nothing.
package histories

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FingerprintFile is the name of a release's fingerprint file.
const FingerprintFile = "fingerprint"

// Fingerprint is the SHA-256 of the Go code of the package in dir (its
// non-test files, in name order), printed without comments.
func Fingerprint(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, "_test.go") })
	if len(files) == 0 {
		return "", fmt.Errorf("no Go files in %s", dir)
	}
	slices.Sort(files)
	h := sha256.New()
	fset := token.NewFileSet()
	for _, f := range files {
		parsed, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return "", err
		}
		parsed.Comments = nil
		ast.Inspect(parsed, func(n ast.Node) bool {
			clearDoc(n)
			return true
		})
		var b bytes.Buffer
		if err := printer.Fprint(&b, fset, parsed); err != nil {
			return "", err
		}
		// The printer keeps the blank lines of the source: drop them.
		var code []byte
		for line := range bytes.Lines(b.Bytes()) {
			if len(bytes.TrimSpace(line)) > 0 {
				code = append(code, line...)
			}
		}
		fmt.Fprintf(h, "%s\n%d\n", filepath.Base(f), len(code))
		h.Write(code)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// clearDoc drops the doc comments a node holds itself, which the printer
// would print even with the file's comments gone.
func clearDoc(n ast.Node) {
	switch n := n.(type) {
	case *ast.FuncDecl:
		n.Doc = nil
	case *ast.GenDecl:
		n.Doc = nil
	case *ast.Field:
		n.Doc, n.Comment = nil, nil
	case *ast.ValueSpec:
		n.Doc, n.Comment = nil, nil
	case *ast.TypeSpec:
		n.Doc, n.Comment = nil, nil
	case *ast.ImportSpec:
		n.Doc, n.Comment = nil, nil
	}
}

// ReadFingerprint is the fingerprint a release was recorded from.
func ReadFingerprint(releaseDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(releaseDir, FingerprintFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ErrOtherCode is returned when a release's histories were recorded from
// other workflow code than the one being recorded.
var ErrOtherCode = errors.New("the release was recorded from other workflow code")

// WriteFingerprint records that releaseDir's histories come from the
// workflow code in pkgDir, creating the directory if needed. A release
// already recorded from other code is refused with ErrOtherCode: its
// histories are never added to from another version of the workflow.
func WriteFingerprint(releaseDir, pkgDir string) error {
	want, err := Fingerprint(pkgDir)
	if err != nil {
		return err
	}
	switch have, err := ReadFingerprint(releaseDir); {
	case err == nil && have == want:
		return nil
	case err == nil:
		return fmt.Errorf("%s: %w", releaseDir, ErrOtherCode)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(releaseDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(releaseDir, FingerprintFile), []byte(want+"\n"), 0o644)
}

// Releases lists the release directories under root, oldest first
// ("1.0" < "1.1" < "1.10" < "2.0").
func Releases(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			if _, ok := parseRelease(e.Name()); ok {
				out = append(out, e.Name())
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		pa, _ := parseRelease(a)
		pb, _ := parseRelease(b)
		return slices.Compare(pa, pb)
	})
	return out, nil
}

// parseRelease reads a release name: numbers joined by dots.
func parseRelease(name string) ([]int, bool) {
	var parts []int
	for p := range strings.SplitSeq(name, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		parts = append(parts, n)
	}
	return parts, len(parts) > 0
}
