package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Option changes how Open connects.
type Option func(*openOptions)

type openOptions struct {
	connectTimeout time.Duration
	pool           Pool
}

// Pool bounds the store's connections to PostgreSQL. SQLite always has one
// connection: it has one writer at a time. A zero field keeps database/sql's
// default for it.
type Pool struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
}

// WithConnectTimeout bounds opening the store, connecting and migrating
// together: a store that accepts connections but never answers fails Open
// after d instead of hanging it. Zero or less waits as long as ctx allows.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *openOptions) { o.connectTimeout = d }
}

// WithPool bounds the connections to PostgreSQL.
func WithPool(p Pool) Option {
	return func(o *openOptions) { o.pool = p }
}

func (p Pool) apply(db *sql.DB) {
	if p.MaxOpenConns > 0 {
		db.SetMaxOpenConns(p.MaxOpenConns)
	}
	if p.MaxIdleConns > 0 {
		db.SetMaxIdleConns(p.MaxIdleConns)
	}
	if p.ConnMaxLifetime > 0 {
		db.SetConnMaxLifetime(p.ConnMaxLifetime)
	}
}

// ErrNoAnswer means the store did not answer within the connect timeout.
var ErrNoAnswer = errors.New("did not answer")

// timeoutError turns the end of the open's own deadline into an error that
// names the store and the timeout; other errors pass unchanged.
func timeoutError(ctx, openCtx context.Context, dsn string, timeout time.Duration, err error) error {
	if ctx.Err() == nil && errors.Is(openCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("status store %s %w within %s (connect and migrate): %w", Redacted(dsn), ErrNoAnswer, timeout, err)
	}
	return err
}

// Redacted is the DSN fit for logs and errors: a PostgreSQL URL with its
// password replaced by xxxxx; a SQLite DSN as it is.
func Redacted(dsn string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparsable: show no more than where it points.
		return "postgres://(unparsable DSN)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
