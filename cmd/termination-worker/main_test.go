package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production worker talks to a Temporal cluster; it must not carry the
// embedded server or the Web UI that the dev command links.
func TestWorkerDoesNotLinkTheServer(t *testing.T) {
	deps := goListDeps(t, ".")
	for _, forbidden := range []string{"go.temporal.io/server/", "github.com/temporalio/ui-server/"} {
		for _, dep := range deps {
			if strings.HasPrefix(dep, forbidden) {
				t.Fatalf("termination-worker links %s", dep)
			}
		}
	}
	// The check itself works: the dev command does link the server.
	linked := false
	for _, dep := range goListDeps(t, "../termination-dev") {
		linked = linked || strings.HasPrefix(dep, "go.temporal.io/server/")
	}
	if !linked {
		t.Fatal("go list -deps found no server package in termination-dev either: the check is broken")
	}
}

func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}
