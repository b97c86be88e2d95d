package devserver

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"

	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	tsql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	schemas "go.temporal.io/server/schema"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
)

// Postgres is Temporal's two databases (main and visibility) on one
// PostgreSQL server, as production runs the server.
type Postgres struct {
	Addr       string `json:"addr"` // host:port
	User       string `json:"user"`
	Password   string `json:"password,omitempty"`
	Main       string `json:"main"`
	Visibility string `json:"visibility"`
	// MaxConns bounds each of the server's connection pools (each of its
	// services opens its own); 0 keeps 5. A PostgreSQL server allows 100
	// connections by default.
	MaxConns int `json:"maxConns,omitempty"`
	// MaxIdleConns is how many of them a pool keeps open while idle; 0 keeps
	// them all. PostgreSQL starts a process per connection, so a pool that
	// closes and reopens them under load spends the machine on that.
	MaxIdleConns int `json:"maxIdleConns,omitempty"`
	// HistoryShards is the history shard count of the new databases; 0 keeps
	// the embedded server's one. The compose server (temporalio/server) has
	// four. A database keeps the count it was made with.
	HistoryShards int `json:"historyShards,omitempty"`
}

// Persistence is the server's persistence in these databases.
func (p Postgres) Persistence() *Persistence {
	return &Persistence{Main: p.sql(p.Main), Visibility: p.sql(p.Visibility), HistoryShards: p.HistoryShards}
}

func (p Postgres) sql(database string) *config.SQL {
	conns := p.MaxConns
	if conns <= 0 {
		conns = 5
	}
	idle := p.MaxIdleConns
	if idle <= 0 || idle > conns {
		idle = conns
	}
	return &config.SQL{
		PluginName: postgresql.PluginName, DatabaseName: database, ConnectAddr: p.Addr, ConnectProtocol: "tcp",
		User: p.User, Password: p.Password, MaxConns: conns, MaxIdleConns: idle,
	}
}

// CreatePostgres creates the two databases on the PostgreSQL server of admin
// (a connection to any database of it) with the schema at the version this
// server release expects, as temporal-sql-tool's setup-schema does from the
// same embedded schema files. The databases must not exist yet.
func CreatePostgres(ctx context.Context, admin *sql.DB, p Postgres) error {
	for _, db := range []struct {
		name, file, version string
		kind                sqlplugin.DbKind
	}{
		{p.Main, "postgresql/v12/temporal/schema.sql", pgschema.Version, sqlplugin.DbKindMain},
		{p.Visibility, "postgresql/v12/visibility/schema.sql", pgschema.VisibilityVersion, sqlplugin.DbKindVisibility},
	} {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db.name); err != nil {
			return fmt.Errorf("create database %s: %w", db.name, err)
		}
		if err := setupSchema(p.sql(db.name), db.kind, db.file, db.version); err != nil {
			return fmt.Errorf("set up the Temporal schema in %s: %w", db.name, err)
		}
	}
	return nil
}

func setupSchema(cfg *config.SQL, kind sqlplugin.DbKind, file, version string) error {
	db, err := tsql.NewSQLAdminDB(kind, cfg, resolver.NewNoopResolver(), serverlog.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := schemas.Assets().Open(file)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil {
		return err
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(body)})
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := db.Exec(stmt); err != nil {
			return fmt.Errorf("%q: %w", stmt, err)
		}
	}
	if err := db.CreateSchemaVersionTables(); err != nil {
		return err
	}
	return db.UpdateSchemaVersion(cfg.DatabaseName, version, version)
}
