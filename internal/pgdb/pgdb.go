// Package pgdb opens a PostgreSQL database for the sync server under the same contract as
// internal/sqlitedb opens SQLite, so the server's domain code runs unchanged on either:
//
//   - WriteTx runs one write transaction at a time across every process on the database: it
//     first takes a transaction-scoped advisory lock (WriteLockKey). SQLite has one writer by
//     construction; here the lock gives the same guarantee, so the change log's sequence numbers
//     are assigned and committed in one order, and a paging reader can never see seq n+1 before
//     seq n has committed (no cursor can skip a change).
//   - ReadTx is one REPEATABLE READ, READ ONLY transaction: one snapshot, as in SQLite's WAL.
//   - Statements are written with ? placeholders, as for SQLite; the connections rewrite them to
//     PostgreSQL's $1, $2, ... (Rebind).
//   - Migrations are the same runner (internal/migrate) over a directory of PostgreSQL files.
//
// Connections come from github.com/jackc/pgx/v5 through its database/sql adapter (statements
// are prepared once per connection and cached). Commit notifications use LISTEN/NOTIFY on a
// connection of their own.
//
// It imports nothing of ours but the migration runner and the transaction ending.
package pgdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/samvaer/sync/internal/migrate"
	"github.com/samvaer/sync/internal/sqltx"
)

// WriteLockKey is the advisory lock every write transaction holds until it ends.
const WriteLockKey int64 = 0x53616d7661657231 // "Samvaer1"

// DB is an open PostgreSQL database.
type DB struct {
	// Read is the connection pool. Plain reads may use it directly; writes go through WriteTx.
	Read *sql.DB
	// Name is the database's address without its password, for messages.
	Name string

	config    *pgx.ConnConfig
	writeDone func(error) error
}

// Options tune Open. The zero value is valid.
type Options struct {
	// Migrations is a directory of *.sql files in PostgreSQL's dialect (internal/migrate).
	Migrations fs.FS
	// MaxConns bounds the pool; 0 means 16.
	MaxConns int
	// WriteDone, when set, is called with the outcome of every WriteTx (nil for a commit) and its
	// result is returned instead (the server notices a full disk through it).
	WriteDone func(err error) error
}

// IsURL reports whether s names a PostgreSQL database (postgres:// or postgresql://).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns the address with its password, if any, left out.
func Redact(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return "postgres://(unreadable address)"
	}
	return u.Redacted()
}

// Open connects to the database at address (a postgres:// URL or key=value string) and applies
// pending migrations.
func Open(ctx context.Context, address string, opts Options) (*DB, error) {
	name := Redact(address)
	config, err := pgx.ParseConfig(address)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", name, err)
	}
	db := &DB{Name: name, config: config, writeDone: opts.WriteDone}
	db.Read = openPool(config)
	n := opts.MaxConns
	if n <= 0 {
		n = 16
	}
	db.Read.SetMaxOpenConns(n)
	db.Read.SetMaxIdleConns(n)
	db.Read.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.Read.PingContext(ctx); err != nil {
		db.Read.Close()
		return nil, fmt.Errorf("open postgres %s: %w", name, err)
	}
	if err := migrate.Apply(ctx, db.WriteTx, opts.Migrations); err != nil {
		db.Read.Close()
		return nil, fmt.Errorf("migrate postgres %s: %w", name, err)
	}
	return db, nil
}

// OpenPool opens a plain pool on the database at address, with ? placeholders, without the
// store's transaction rules or migrations: for tools and tests that act on the database
// directly.
func OpenPool(address string) (*sql.DB, error) {
	config, err := pgx.ParseConfig(address)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", Redact(address), err)
	}
	return openPool(config), nil
}

func openPool(config *pgx.ConnConfig) *sql.DB {
	return sql.OpenDB(rebinding{stdlib.GetConnector(*config)})
}

// Close closes the pool.
func (db *DB) Close() error { return db.Read.Close() }

// WriteTx runs fn in one write transaction holding WriteLockKey, so write transactions of every
// process on the database run one after another. It commits if fn returns nil and rolls back
// otherwise (also on panic); fn's error is returned unwrapped.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := db.run(ctx, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", WriteLockKey); err != nil {
			return fmt.Errorf("take the write lock: %w", err)
		}
		return fn(tx)
	})
	if db.writeDone != nil {
		return db.writeDone(err)
	}
	return err
}

// ReadTx runs fn in one read-only transaction that sees one snapshot throughout.
func (db *DB) ReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.run(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, fn)
}

func (db *DB) run(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.Read.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin on postgres %s: %w", db.Name, err)
	}
	return sqltx.Finish(tx, fn, "commit on postgres "+db.Name)
}

// Reclaim makes the space of deleted rows reusable at once (VACUUM), after a purge or a
// retention run, instead of when autovacuum comes by. PostgreSQL does not overwrite free space:
// on this store, deleted content is gone from every query at commit, and from the disk when its
// pages are reused; encrypt the volume (docs/operations.md).
func (db *DB) Reclaim(ctx context.Context) error {
	if _, err := db.Read.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("vacuum postgres %s: %w", db.Name, err)
	}
	return nil
}

// IsFull reports whether err is PostgreSQL's disk_full (SQLSTATE 53100).
func IsFull(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53100"
}

// Notify sends a notification on channel when tx commits (NOTIFY is transactional).
func Notify(ctx context.Context, tx *sql.Tx, channel string) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_notify(?, '')", channel)
	return err
}

// Listen calls fn for every notification on channel, from any process on the database, until
// ctx ends. It holds a connection of its own and reconnects after a failure; fn is also called
// after each (re)connect, since notifications sent while disconnected are lost.
func (db *DB) Listen(ctx context.Context, channel string, fn func()) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channel, fn)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(2*backoff, 5*time.Second)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, fn func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.config)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	fn()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		fn()
	}
}

// Rebind rewrites ? placeholders to $1, $2, ... outside quoted text, identifiers and comments.
func Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(query) && query[j] != c {
				j++
			}
			b.WriteString(query[i:min(j+1, len(query))])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rebinding is pgx's connector with every statement's placeholders rewritten.
type rebinding struct{ driver.Connector }

func (r rebinding) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := r.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{c.(*stdlib.Conn)}, nil
}

// conn is a pgx connection whose statements take ? placeholders. The methods not written here
// (transactions, pings, session reset, value checks) are pgx's own.
type conn struct{ *stdlib.Conn }

// CheckNamedValue passes booleans as 0 and 1, as SQLite stores them (the schema's flags are
// integers in both dialects); everything else is pgx's.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
		return nil
	}
	return c.Conn.CheckNamedValue(nv)
}

// Prepare and PrepareContext prepare nothing on the server: pgx's statement cache already
// prepares every statement once per connection, at its first use, and reuses it after. A
// statement prepared per transaction (as the store does for SQLite, where parsing SQL was a fifth
// of a push) would cost two round trips more on PostgreSQL every time: a Parse, and a Close when
// the transaction ends — eight of a push's round trips, its largest cost under load.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return &cachedStmt{conn: c, query: Rebind(query)}, nil
}

// cachedStmt runs its query through the connection's statement cache.
type cachedStmt struct {
	conn  *conn
	query string
}

func (s *cachedStmt) Close() error  { return nil }
func (s *cachedStmt) NumInput() int { return -1 } // pgx checks the arguments

func (s *cachedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *cachedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.Conn.ExecContext(ctx, s.query, args)
}

func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.Conn.QueryContext(ctx, s.query, args)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		query = Rebind(query)
	}
	return c.Conn.ExecContext(ctx, query, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		query = Rebind(query)
	}
	return c.Conn.QueryContext(ctx, query, args)
}
