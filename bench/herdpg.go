package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the run's databases

	"github.com/cloudmarket/termination-orders/devserver"
)

// Where a herd's Temporal server keeps its state.
const (
	HerdOnSQLite   = "sqlite"
	HerdOnPostgres = "postgres"
)

// How a herd's results name its server (HerdResults.Server).
const (
	herdServerSQLite   = "embedded, SQLite"
	herdServerPostgres = "embedded, PostgreSQL"
)

// herdPostgres is a herd's databases on a PostgreSQL server: Temporal's two
// and the status store, created fresh for the run and dropped after it.
type herdPostgres struct {
	admin     *sql.DB
	temporal  devserver.Postgres
	status    string // the status store's database
	statusDSN string
	dbs       []string
}

// newHerdPostgres creates the run's databases on the server of dsn (an
// administrator's DSN).
func newHerdPostgres(ctx context.Context, dsn string, conns, shards int) (_ *herdPostgres, err error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("PostgreSQL DSN %q: want postgres://user@host:port/db", dsn)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	p := &herdPostgres{admin: admin}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if err := admin.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", u.Redacted(), err)
	}
	prefix := fmt.Sprintf("herd_%d_%d", os.Getpid(), time.Now().UnixNano())
	password, _ := u.User.Password()
	// Every pool keeps its connections: a herd keeps them busy.
	p.temporal = devserver.Postgres{Addr: u.Host, User: u.User.Username(), Password: password,
		Main: prefix + "_temporal", Visibility: prefix + "_visibility", MaxConns: conns, HistoryShards: shards}
	p.dbs = append(p.dbs, p.temporal.Main, p.temporal.Visibility)
	if err := devserver.CreatePostgres(ctx, admin, p.temporal); err != nil {
		return nil, err
	}
	p.status = prefix + "_status"
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+p.status); err != nil {
		return nil, err
	}
	p.dbs = append(p.dbs, p.status)
	s := *u
	s.Path = "/" + p.status
	p.statusDSN = s.String()
	return p, nil
}

// size is Temporal's two databases, in bytes.
func (p *herdPostgres) size() int64 {
	var n int64
	if err := p.admin.QueryRow("SELECT pg_database_size($1) + pg_database_size($2)", p.temporal.Main, p.temporal.Visibility).Scan(&n); err != nil {
		return 0
	}
	return n
}

// close drops the run's databases.
func (p *herdPostgres) close() {
	for _, db := range p.dbs {
		_, _ = p.admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)")
	}
	_ = p.admin.Close()
}
