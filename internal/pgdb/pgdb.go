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
//   - Statements run with sqltx.Later (their answer is not needed) are held back and sent,
//     pipelined in one batch, with the transaction's next statement that needs an answer or
//     with its COMMIT; so are a transaction's BEGIN and the write lock (conn). Every round trip
//     of a write transaction is made holding the lock every instance's writes wait for.
//   - Migrations are the same runner (internal/migrate) over a directory of PostgreSQL files.
//
// Connections come from github.com/jackc/pgx/v5 through its database/sql adapter (statements
// are prepared once per connection and cached). Commit notifications use LISTEN/NOTIFY on a
// connection of their own.
//
// It imports nothing of ours but the migration runner and internal/sqltx.
package pgdb

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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
	// writer is held by this process's one write transaction under way: the others wait for
	// it here, without a connection, instead of each holding one of the pool's connections
	// while PostgreSQL makes it wait for the write lock (with sixteen pushes queued, reads
	// found no connection left).
	writer chan struct{}
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
	db := &DB{Name: name, config: config, writeDone: opts.WriteDone, writer: make(chan struct{}, 1)}
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
// process on the database run one after another (this process's wait their turn in the process
// first). It commits if fn returns nil and rolls back
// otherwise (also on panic); fn's error is returned unwrapped.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case db.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.writer }()
	err := db.run(ctx, nil, func(tx *sql.Tx) error {
		// Held back: it travels with the transaction's first statement, BEGIN before it.
		if _, err := tx.ExecContext(sqltx.Later(ctx), "SELECT pg_advisory_xact_lock(?)", WriteLockKey); err != nil {
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

// Analyze refreshes the planner's statistics of every table (ANALYZE). A server runs it when it
// starts: a database restored from pg_dump, or filled since autovacuum last came by, has none or
// stale ones, and a statement's plan, cached on the connection after five runs, is then built for
// tables of a few rows. The load test met it: the commit feed's join scanned every case's
// members at every commit (8 ms), the push's lookup every record.
func (db *DB) Analyze(ctx context.Context) error {
	if _, err := db.Read.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze postgres %s: %w", db.Name, err)
	}
	return nil
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

// Notify sends a notification on channel when tx commits (NOTIFY is transactional): held back
// (sqltx.Later), it travels with a statement that needs an answer, or with the commit.
func Notify(ctx context.Context, tx *sql.Tx, channel string) error {
	_, err := tx.ExecContext(sqltx.Later(ctx), "SELECT pg_notify(?, '')", channel)
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
	return &conn{Conn: c.(*stdlib.Conn)}, nil
}

// conn is a pgx connection whose statements take ? placeholders, and whose transactions make
// as few round trips as they can: a transaction's BEGIN, and every statement run with
// sqltx.Later, wait in queue and go in one batch (pipelined, one round trip) with the next
// statement that needs an answer, or with the COMMIT. The write lock of WriteTx travels this
// way with the transaction's first statement, and a push's inserts, audit entry and device row
// with its commit. The server runs a batch's statements in order, each as if sent alone: a
// statement sees the waiting ones' writes, and in READ COMMITTED takes its snapshot after the
// lock is granted. A waiting statement's error fails the statement it travels with (or the
// commit), so the transaction rolls back with nothing of it stored; a rollback drops the queue.
// The methods not written here (pings, value checks) are pgx's own.
type conn struct {
	*stdlib.Conn
	inTx  bool
	txCtx context.Context // the context the transaction began with, for its end (as pgx's stdlib)
	queue []waiting       // the open transaction's statements not sent yet
	begun bool            // the open transaction's BEGIN has been sent
	// failed is the error a held-back statement met: the commit returns it, also when the
	// statement it travelled with had its error ignored.
	failed error
}

// waiting is a statement held back, with its arguments ($n placeholders).
type waiting struct {
	query string
	args  []any
}

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

// ResetSession refuses a connection whose transaction did not end (database/sql then discards
// it), as pgx's does for one the server still sees in a transaction.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.inTx {
		return driver.ErrBadConn
	}
	return c.Conn.ResetSession(ctx)
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

// BeginTx sends nothing: the BEGIN waits for the transaction's first statement. (PostgreSQL
// takes a transaction's snapshot at its first statement anyway, not at BEGIN.)
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.Conn.Conn().IsClosed() {
		return nil, driver.ErrBadConn
	}
	if c.inTx {
		return nil, errors.New("pgdb: a transaction is open on this connection already")
	}
	begin, err := beginStatement(opts)
	if err != nil {
		return nil, err
	}
	c.inTx, c.txCtx, c.begun = true, ctx, false
	c.queue = append(c.queue[:0], waiting{query: begin})
	return (*connTx)(c), nil
}

func beginStatement(opts driver.TxOptions) (string, error) {
	begin := "BEGIN"
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		begin += " ISOLATION LEVEL READ UNCOMMITTED"
	case sql.LevelReadCommitted:
		begin += " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		begin += " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		begin += " ISOLATION LEVEL SERIALIZABLE"
	default:
		return "", fmt.Errorf("pgdb: unsupported isolation level %v", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		begin += " READ ONLY"
	}
	return begin, nil
}

// connTx is the open transaction of a conn.
type connTx conn

// Commit sends the waiting statements with the COMMIT; a transaction that sent nothing has
// nothing to commit.
func (t *connTx) Commit() error {
	c := (*conn)(t)
	defer c.endTx()
	if !c.begun && len(c.queue) == 1 {
		return nil
	}
	if c.failed != nil {
		c.rollback()
		return c.failed
	}
	br, err := c.sendWith(c.txCtx, "COMMIT", nil)
	if err == nil {
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err == nil && tag.String() != "COMMIT" {
			err = pgx.ErrTxCommitRollback // a statement failed earlier and its error went unheeded
		}
	}
	if err != nil {
		c.rollback()
		return err
	}
	return nil
}

// Rollback drops the waiting statements and ends the transaction on the server, if it began
// there.
func (t *connTx) Rollback() error {
	c := (*conn)(t)
	defer c.endTx()
	if !c.begun {
		return nil
	}
	return c.rollback()
}

func (c *conn) rollback() error {
	pg := c.Conn.Conn()
	if pg.IsClosed() || pg.PgConn().TxStatus() == 'I' {
		return nil
	}
	_, err := pg.Exec(c.txCtx, "ROLLBACK")
	return err // a connection left in a transaction is not reused (pgx's ResetSession)
}

func (c *conn) endTx() {
	clear(c.queue)
	c.queue, c.inTx, c.txCtx, c.begun, c.failed = c.queue[:0], false, nil, false, nil
}

// sendWith sends the waiting statements and then query in one batch, and reads the waiting
// ones' answers: the caller reads query's and closes the batch.
func (c *conn) sendWith(ctx context.Context, query string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(c.queue)+1)}
	for _, w := range c.queue {
		b.Queue(w.query, w.args...)
	}
	b.Queue(query, args...)
	n := len(c.queue)
	clear(c.queue)
	c.queue, c.begun = c.queue[:0], true
	br := c.Conn.Conn().SendBatch(ctx, b)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			c.failed = fmt.Errorf("a statement held back in the transaction: %w", err)
			if errors.As(err, new(pgx.ErrPreprocessingBatch)) {
				// Preparing one of the batch's statements failed: none of them ran.
				c.failed = fmt.Errorf("prepare a statement of the transaction: %w", err)
			}
			return nil, c.failed
		}
	}
	return br, nil
}

// flush sends the waiting statements, the last of them as the one whose answer is read.
func (c *conn) flush(ctx context.Context) error {
	if len(c.queue) == 0 {
		return nil
	}
	last := c.queue[len(c.queue)-1]
	c.queue = c.queue[:len(c.queue)-1]
	br, err := c.sendWith(ctx, last.query, last.args)
	if err != nil {
		return err
	}
	_, err = br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		c.failed = fmt.Errorf("a statement held back in the transaction: %w", err)
		return c.failed
	}
	return nil
}

// heldBack is the result of a statement run with sqltx.Later inside a transaction.
type heldBack struct{}

var errHeldBack = errors.New("pgdb: the statement was held back (sqltx.Later): its row count is not known")

func (heldBack) LastInsertId() (int64, error) { return 0, errHeldBack }
func (heldBack) RowsAffected() (int64, error) { return 0, errHeldBack }

// exec runs query (with $n placeholders), or holds it back when it is marked Later in a
// transaction.
func (c *conn) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.inTx && sqltx.IsLater(ctx) {
		c.queue = append(c.queue, waiting{query, kept(args)})
		return heldBack{}, nil
	}
	if len(args) == 0 && strings.Contains(query, ";") {
		// Perhaps several statements (a migration), which only the simple protocol runs, and
		// not in a batch: what waits goes first, on its own.
		if err := c.flush(ctx); err != nil {
			return nil, err
		}
	}
	if len(c.queue) == 0 {
		return c.Conn.ExecContext(ctx, query, args)
	}
	br, err := c.sendWith(ctx, query, values(args))
	if err != nil {
		return nil, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

// query runs query (with $n placeholders), after the waiting statements.
func (c *conn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(c.queue) == 0 {
		return c.Conn.QueryContext(ctx, query, args)
	}
	br, err := c.sendWith(ctx, query, values(args))
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	// The first row is read now, as pgx's stdlib does, so an error shows here.
	r := &batchRows{br: br, rows: rows, typeMap: c.Conn.Conn().TypeMap(), preloaded: true, more: rows.Next()}
	if err := rows.Err(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// values are a statement's arguments as pgx takes them.
func values(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

// kept are the arguments of a statement held back: byte slices are copied, since the caller may
// reuse its buffers once the statement has returned.
func kept(args []driver.NamedValue) []any {
	out := values(args)
	for i, v := range out {
		if b, ok := v.([]byte); ok {
			out[i] = bytes.Clone(b)
		}
	}
	return out
}

// batchRows are the rows of a query sent in a batch, converted to database/sql's values as pgx's
// stdlib converts them (integers as int64, floats as float64, bytea and JSON as []byte, times as
// time.Time, booleans as bool, everything else as its text).
type batchRows struct {
	br              pgx.BatchResults
	rows            pgx.Rows
	typeMap         *pgtype.Map
	convert         []func(src []byte) (driver.Value, error)
	preloaded, more bool
	columns         []string
}

func (r *batchRows) Columns() []string {
	if r.columns == nil {
		for _, fd := range r.rows.FieldDescriptions() {
			r.columns = append(r.columns, fd.Name)
		}
	}
	return r.columns
}

func (r *batchRows) Close() error {
	r.rows.Close()
	err := r.rows.Err()
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *batchRows) Next(dest []driver.Value) error {
	more := r.more
	if r.preloaded {
		r.preloaded = false
	} else {
		more = r.rows.Next()
	}
	if !more {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if r.convert == nil {
		for _, fd := range r.rows.FieldDescriptions() {
			r.convert = append(r.convert, converter(r.typeMap, fd))
		}
	}
	for i, raw := range r.rows.RawValues() {
		dest[i] = nil
		if raw != nil {
			v, err := r.convert[i](raw)
			if err != nil {
				return fmt.Errorf("convert column %d: %w", i, err)
			}
			dest[i] = v
		}
	}
	return nil
}

// converter decodes one column's values.
func converter(m *pgtype.Map, fd pgconn.FieldDescription) func(src []byte) (driver.Value, error) {
	as := func(dst any, value func() (driver.Value, error)) func([]byte) (driver.Value, error) {
		plan := m.PlanScan(fd.DataTypeOID, fd.Format, dst)
		return func(src []byte) (driver.Value, error) {
			if err := plan.Scan(src, dst); err != nil {
				return nil, err
			}
			return value()
		}
	}
	switch fd.DataTypeOID {
	case pgtype.BoolOID:
		var d bool
		return as(&d, func() (driver.Value, error) { return d, nil })
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID:
		var d []byte
		return as(&d, func() (driver.Value, error) { return bytes.Clone(d), nil })
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		var d int64
		return as(&d, func() (driver.Value, error) { return d, nil })
	case pgtype.Float4OID, pgtype.Float8OID:
		var d float64
		return as(&d, func() (driver.Value, error) { return d, nil })
	case pgtype.TimestamptzOID:
		var d pgtype.Timestamptz
		return as(&d, func() (driver.Value, error) { return d.Value() })
	case pgtype.TimestampOID:
		var d pgtype.Timestamp
		return as(&d, func() (driver.Value, error) { return d.Value() })
	case pgtype.DateOID:
		var d pgtype.Date
		return as(&d, func() (driver.Value, error) { return d.Value() })
	default:
		var d string
		return as(&d, func() (driver.Value, error) { return d, nil })
	}
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
	return s.conn.exec(ctx, s.query, args)
}

func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.query(ctx, s.query, args)
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
	return c.exec(ctx, query, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		query = Rebind(query)
	}
	return c.query(ctx, query, args)
}
