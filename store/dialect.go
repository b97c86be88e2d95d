package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver (pure Go, no cgo)
)

// dialect is what differs between the SQL databases the store runs on.
type dialect struct {
	name string
	open func(source string) (*sql.DB, error)
	// rebind turns the store's '?' placeholders into the database's own.
	rebind     func(q string) string
	encodeTime func(t time.Time) any
	decodeTime func(v any) (time.Time, error)
	// isDataError tells a refusal of the data itself (retrying cannot help)
	// from trouble with the database (retrying may).
	isDataError func(err error) bool
}

// sqliteTimeLayout is fixed-width so that times stored as text sort in time order.
// Both databases keep microseconds, as PostgreSQL does.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

var sqliteDialect = &dialect{
	name: "sqlite",
	open: func(path string) (*sql.DB, error) {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, err
			}
		}
		// WAL lets the order page read while the worker writes; IMMEDIATE
		// transactions and a busy timeout let several processes share the file.
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		// SQLite has one writer at a time; one connection per process avoids
		// SQLITE_BUSY between this process's own connections.
		db.SetMaxOpenConns(1)
		return db, nil
	},
	rebind:     func(q string) string { return q },
	encodeTime: func(t time.Time) any { return t.UTC().Truncate(time.Microsecond).Format(sqliteTimeLayout) },
	decodeTime: func(v any) (time.Time, error) {
		s, ok := v.(string)
		if !ok {
			return time.Time{}, fmt.Errorf("time: want text, got %T", v)
		}
		return time.Parse(sqliteTimeLayout, s)
	},
	// SQLite stores any text; what it refuses is about the database, not the data.
	isDataError: func(error) bool { return false },
}

var postgresDialect = &dialect{
	name: "postgres",
	open: func(url string) (*sql.DB, error) { return sql.Open("pgx", url) },
	rebind: func(q string) string {
		var b strings.Builder
		n := 0
		for _, r := range q {
			if r == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	},
	encodeTime: func(t time.Time) any { return t.UTC().Truncate(time.Microsecond) },
	decodeTime: func(v any) (time.Time, error) {
		t, ok := v.(time.Time)
		if !ok {
			return time.Time{}, fmt.Errorf("time: want timestamptz, got %T", v)
		}
		return t.UTC(), nil
	},
	// Classes 22 (data exception, e.g. a NUL byte in text) and 23 (integrity
	// constraint violation) are about the row itself.
	isDataError: func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
	},
}

// dialectFor picks the database from the DSN's scheme and returns what the
// driver needs. Errors name only the scheme: a DSN may carry a password.
func dialectFor(dsn string) (*dialect, string, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, "", fmt.Errorf("store DSN %q names no file: use sqlite:<path>", dsn)
		}
		return sqliteDialect, path, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgresDialect, dsn, nil
	default:
		scheme, _, found := strings.Cut(dsn, ":")
		if !found || scheme == "" {
			scheme = "(none)"
		}
		return nil, "", fmt.Errorf("store DSN has unsupported scheme %q: use sqlite:<path> or postgres://user@host:port/database", scheme)
	}
}

// CheckDSN reports whether dsn names a store Open can use, without connecting.
func CheckDSN(dsn string) error {
	_, _, err := dialectFor(dsn)
	return err
}
