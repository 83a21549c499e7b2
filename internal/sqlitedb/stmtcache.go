package sqlitedb

import (
	"container/list"
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
)

// The statement cache. database/sql hands ExecContext and QueryContext to the driver with the
// SQL text, and modernc.org/sqlite prepares, runs and finalizes the statement every time:
// parsing and planning the same few hundred texts again was a seventh of the server's CPU under
// load. So each connection keeps the statements it prepared, by SQL text, in a bounded LRU (as
// pgx's statement cache does for PostgreSQL), and runs them again after a reset. The driver's
// own prepared statement already resets instead of finalizing after an Exec and when its rows
// close, and sqlite3_prepare_v2 prepares it anew by itself when the schema changed meanwhile.
//
// database/sql gives a connection to one goroutine at a time and locks it around every driver
// call, so the cache needs no lock. One connection can still run the same text twice at once
// (a query inside the loop over its own rows): a statement whose rows are open is not run again
// but the text is prepared once more, for that run only.

// statementCacheSize is how many prepared statements a connection keeps. The server and the
// tablet each have well under a hundred fixed texts; the rest are multi-row INSERTs and IN
// lists whose length varies.
const statementCacheSize = 256

// driverConn is what database/sql uses of a modernc.org/sqlite connection.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// driverStmt is what the cache uses of a modernc.org/sqlite prepared statement.
type driverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// driverRows is what database/sql uses of modernc.org/sqlite's rows.
type driverRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// caching is a connector whose connections keep their prepared statements.
type caching struct {
	driver.Connector
	size int
}

func (c caching) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(driverConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlite connection %T lacks the context methods", dc)
	}
	return newCachingConn(inner, c.size), nil
}

// cachingConn is a driver connection with its statement cache. Transactions, pings and session
// checks are the driver's own.
type cachingConn struct {
	driverConn
	size    int
	lru     *list.List // of *cachedStmt, the most recently used first
	byQuery map[string]*list.Element
}

func newCachingConn(inner driverConn, size int) *cachingConn {
	return &cachingConn{driverConn: inner, size: size, lru: list.New(), byQuery: make(map[string]*list.Element)}
}

// cachedStmt is one prepared statement of the cache.
type cachedStmt struct {
	query string
	stmt  driverStmt
	// inUse: its rows are open, so it must not run again until they close.
	inUse bool
	// evicted: it left the cache while in use, and is closed when its rows close.
	evicted bool
}

// singleStatement reports whether query may be one statement: it has no ';' but at its end.
// A script (a migration) is parsed anew at every run by the driver anyway, so it is not kept;
// a ';' in a string literal only costs that statement the cache.
func singleStatement(query string) bool {
	return !strings.Contains(strings.TrimRight(query, " \t\r\n;"), ";")
}

// statement returns the cached statement for query, preparing it at its first use; nil (and no
// error) when query is to run uncached: a script, or a statement whose rows are open.
func (c *cachingConn) statement(ctx context.Context, query string) (*cachedStmt, error) {
	if el, ok := c.byQuery[query]; ok {
		cs := el.Value.(*cachedStmt)
		if cs.inUse {
			return nil, nil
		}
		c.lru.MoveToFront(el)
		return cs, nil
	}
	if !singleStatement(query) {
		return nil, nil
	}
	ds, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(driverStmt)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("sqlite statement %T lacks the context methods", ds)
	}
	cs := &cachedStmt{query: query, stmt: st}
	c.byQuery[query] = c.lru.PushFront(cs)
	if c.lru.Len() > c.size {
		c.evict(c.lru.Back())
	}
	return cs, nil
}

// evict drops a statement from the cache and closes it, or has its rows close it.
func (c *cachingConn) evict(el *list.Element) {
	cs := c.lru.Remove(el).(*cachedStmt)
	delete(c.byQuery, cs.query)
	if cs.inUse {
		cs.evicted = true
		return
	}
	// Finalizing reports the statement's last failure again, which its caller already had.
	cs.stmt.Close()
}

// Close finalizes the cached statements, then closes the connection. database/sql has closed
// all of the connection's rows before.
func (c *cachingConn) Close() error {
	for el := c.lru.Front(); el != nil; el = c.lru.Front() {
		c.evict(el)
	}
	return c.driverConn.Close()
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.driverConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args) // resets the statement, also after a failure
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.driverConn.QueryContext(ctx, query, args)
	}
	dr, err := cs.stmt.QueryContext(ctx, args) // on a failure, the statement is reset
	if err != nil {
		return nil, err
	}
	r, ok := dr.(driverRows)
	if !ok {
		dr.Close()
		return nil, fmt.Errorf("sqlite rows %T lack the column types", dr)
	}
	cs.inUse = true
	return &cachedRows{driverRows: r, stmt: cs}, nil
}

// cachedRows are the rows of a cached statement: closing them resets the statement (the
// driver's doing) and frees it for its next run.
type cachedRows struct {
	driverRows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.driverRows.Close()
	r.stmt.inUse = false
	if r.stmt.evicted {
		r.stmt.stmt.Close()
	}
	return err
}

// Prepare and PrepareContext prepare through the cache: the statement a transaction prepares
// (the server's store prepares its commit log's four) is the connection's, kept after the
// transaction. A script, or a text whose cached statement is in use, gets a statement of its own.
func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	cs, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.driverConn.PrepareContext(ctx, query)
	}
	return preparedQuery{conn: c, query: query}, nil
}

// preparedQuery is a prepared statement that runs its text through the connection's cache, so
// it stays valid when the cache evicts its statement (it is prepared again at the next run).
type preparedQuery struct {
	conn  *cachingConn
	query string
}

func (p preparedQuery) Close() error  { return nil } // the statement stays in the cache
func (p preparedQuery) NumInput() int { return -1 }  // the driver checks the arguments

func (p preparedQuery) Exec(args []driver.Value) (driver.Result, error) {
	return p.ExecContext(context.Background(), named(args))
}

func (p preparedQuery) Query(args []driver.Value) (driver.Rows, error) {
	return p.QueryContext(context.Background(), named(args))
}

func (p preparedQuery) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return p.conn.ExecContext(ctx, p.query, args)
}

func (p preparedQuery) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return p.conn.QueryContext(ctx, p.query, args)
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}
