package histories_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/internal/histories"
)

func writePkg(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "w.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "w_test.go"), []byte("package w\n\nfunc helper() {}\n"), 0o644))
	return dir
}

const code = `package w

// Step is one step.
func Step(n int) int {
	return n + 1 // the next
}
`

func TestFingerprintIgnoresCommentsLayoutAndTests(t *testing.T) {
	base, err := histories.Fingerprint(writePkg(t, code))
	require.NoError(t, err)

	same, err := histories.Fingerprint(writePkg(t, "package w\n/* other words */\nfunc Step(n int) int {\n\n\treturn n + 1\n}\n"))
	require.NoError(t, err)
	require.Equal(t, base, same, "comments and blank lines are not code")

	changed, err := histories.Fingerprint(writePkg(t, "package w\n\nfunc Step(n int) int {\n\treturn n + 2\n}\n"))
	require.NoError(t, err)
	require.NotEqual(t, base, changed, "a changed step is a changed workflow")
}

func TestWriteFingerprintNeverMixesCode(t *testing.T) {
	release := filepath.Join(t.TempDir(), "1.0")
	pkg := writePkg(t, code)
	require.NoError(t, histories.WriteFingerprint(release, pkg))
	require.NoError(t, histories.WriteFingerprint(release, pkg), "the same code records into its release again")

	got, err := histories.ReadFingerprint(release)
	require.NoError(t, err)
	want, err := histories.Fingerprint(pkg)
	require.NoError(t, err)
	require.Equal(t, want, got)

	other := writePkg(t, "package w\n\nfunc Step(n int) int { return n }\n")
	require.ErrorIs(t, histories.WriteFingerprint(release, other), histories.ErrOtherCode)
	got, err = histories.ReadFingerprint(release)
	require.NoError(t, err)
	require.Equal(t, want, got, "a refused write leaves the release as it was")
}

func TestReleasesInVersionOrder(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"1.10", "2.0", "1.0", "1.2", "notes"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "test-keys"), nil, 0o644))
	got, err := histories.Releases(root)
	require.NoError(t, err)
	require.Equal(t, []string{"1.0", "1.2", "1.10", "2.0"}, got)
}
