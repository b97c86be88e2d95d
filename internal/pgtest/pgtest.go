// Package pgtest gives tests a database of their own on the PostgreSQL server
// named by TERMINATION_TEST_POSTGRES_DSN (default: the local server at
// 127.0.0.1:5432, user postgres, database test).
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// NewDatabase creates an empty database, dropped after the test, and returns
// its DSN. Without a server the test is skipped, except under CI=true, where
// it fails.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TERMINATION_TEST_POSTGRES_DSN")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI: %v", admin, err)
		}
		t.Skipf("no PostgreSQL at %s: %v", admin, err)
	}
	name := fmt.Sprintf("termination_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return strings.Replace(admin, "/test?", "/"+name+"?", 1)
}
