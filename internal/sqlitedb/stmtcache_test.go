package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"modernc.org/sqlite"
)

// counts is what a counting connection saw reach the driver.
type counts struct {
	prepares map[string]int // statements prepared, by SQL text
	closes   int            // prepared statements closed
	direct   int            // Exec and Query run by the driver without the cache
}

// counting is a driver connection that counts what the cache asks of it.
type counting struct {
	driverConn
	n *counts
}

func (c counting) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.n.prepares[query]++
	st, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return countedStmt{st.(driverStmt), c.n}, nil
}

func (c counting) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.n.direct++
	return c.driverConn.ExecContext(ctx, query, args)
}

func (c counting) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.n.direct++
	return c.driverConn.QueryContext(ctx, query, args)
}

type countedStmt struct {
	driverStmt
	n *counts
}

func (s countedStmt) Close() error {
	s.n.closes++
	return s.driverStmt.Close()
}

type countingConnector struct {
	driver.Connector
	size int
	n    *counts
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(counting{dc.(driverConn), c.n}, c.size), nil
}

// openCounting opens a one-connection pool whose cache keeps size statements, with a table
// items (id, v) of three rows.
func openCounting(t *testing.T, size int) (*sql.DB, *counts) {
	t.Helper()
	c, err := sqlite.NewConnector(dsn(filepath.Join(t.TempDir(), "cache.db"), true, false))
	if err != nil {
		t.Fatal(err)
	}
	n := &counts{prepares: map[string]int{}}
	db := sql.OpenDB(countingConnector{c, size, n})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
	for i, v := range []string{"a", "b", "c"} {
		mustExec(t, db, "INSERT INTO items (id, v) VALUES (?, ?)", i+1, v)
	}
	return db, n
}

func mustExec(t *testing.T, db interface {
	Exec(string, ...any) (sql.Result, error)
}, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// values reads the column v of query's rows.
func values(t *testing.T, db interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const selectFrom = "SELECT v FROM items WHERE id >= ? ORDER BY id"

func TestStatementsArePreparedOncePerConnection(t *testing.T) {
	db, n := openCounting(t, 16)
	const insert = "INSERT INTO items (id, v) VALUES (?, ?)"
	if n.prepares[insert] != 1 {
		t.Fatalf("insert prepared %d times for three rows, want 1", n.prepares[insert])
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 4; i <= 10; i++ {
		mustExec(t, tx, insert, i, string(rune('a'+i-1)))
	}
	// A statement a transaction prepares is the connection's, and outlives the transaction.
	st, err := tx.Prepare(selectFrom)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := st.QueryRow(9).Scan(&v); err != nil || v != "i" {
		t.Fatalf("prepared query: %q, %v", v, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		got := values(t, db, selectFrom, i)
		if len(got) != 11-i || got[0] != string(rune('a'+i-1)) {
			t.Fatalf("from %d: %v", i, got)
		}
	}
	if n.prepares[insert] != 1 || n.prepares[selectFrom] != 1 || n.direct != 0 {
		t.Fatalf("prepared %v, ran %d uncached: want each text prepared once, none uncached", n.prepares, n.direct)
	}
	// A failing run leaves the statement usable.
	if _, err := db.Exec(insert, 1, "again"); err == nil {
		t.Fatal("duplicate id inserted")
	}
	mustExec(t, db, insert, 11, "k")
	if got := values(t, db, selectFrom, 11); !equal(got, []string{"k"}) {
		t.Fatalf("after a failed insert: %v", got)
	}
	if _, err := db.Prepare("SELEKT nothing"); err == nil {
		t.Fatal("bad SQL prepared")
	}
}

func TestRowsLeftUnreadResetTheStatement(t *testing.T) {
	db, n := openCounting(t, 16)
	ctx := context.Background()
	for range 3 {
		rows, err := db.Query(selectFrom, 1)
		if err != nil {
			t.Fatal(err)
		}
		var v string
		if !rows.Next() || rows.Scan(&v) != nil || v != "a" {
			t.Fatalf("first row %q, %v", v, rows.Err())
		}
		rows.Close() // two rows unread
	}
	// A statement left mid-way would hold its read transaction: the checkpoint could not
	// truncate the WAL, and the schema could not change.
	var busy, frames, done int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done); err != nil || busy != 0 {
		t.Fatalf("checkpoint after unread rows: busy %d, %v", busy, err)
	}
	mustExec(t, db, "CREATE TABLE other (x)")
	if got := values(t, db, selectFrom, 2); !equal(got, []string{"b", "c"}) {
		t.Fatalf("rerun: %v", got)
	}
	if n.prepares[selectFrom] != 1 {
		t.Fatalf("query prepared %d times, want 1", n.prepares[selectFrom])
	}
}

func TestOneTextRunInsideItsOwnRows(t *testing.T) {
	db, n := openCounting(t, 16)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(selectFrom, 1)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	inner := map[string][]string{}
	for i := 1; rows.Next(); i++ {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, v)
		inner[v] = values(t, tx, selectFrom, i+1) // the same text, while its rows are open
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if !equal(outer, []string{"a", "b", "c"}) || !equal(inner["a"], []string{"b", "c"}) || !equal(inner["b"], []string{"c"}) || len(inner["c"]) != 0 {
		t.Fatalf("outer %v, inner %v", outer, inner)
	}
	if got := values(t, tx, selectFrom, 3); !equal(got, []string{"c"}) {
		t.Fatalf("after: %v", got)
	}
	if n.prepares[selectFrom] != 1 || n.direct != 3 {
		t.Fatalf("prepared %d times, %d runs uncached: want 1 and the 3 nested runs", n.prepares[selectFrom], n.direct)
	}
}

func TestSchemaChangesBetweenRuns(t *testing.T) {
	db, _ := openCounting(t, 16)
	const all = "SELECT * FROM items ORDER BY id"
	columns := func() int {
		t.Helper()
		rows, err := db.Query(all)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return len(cols)
	}
	if got := columns(); got != 2 {
		t.Fatalf("%d columns", got)
	}
	mustExec(t, db, "ALTER TABLE items ADD COLUMN extra TEXT NOT NULL DEFAULT 'x'")
	if got := columns(); got != 3 {
		t.Fatalf("after ALTER TABLE: %d columns, want 3", got)
	}
	mustExec(t, db, "CREATE INDEX items_v ON items (v)")
	if got := values(t, db, selectFrom, 2); !equal(got, []string{"b", "c"}) {
		t.Fatalf("after CREATE INDEX: %v", got)
	}
	// The table made again, its columns in another order: the statement is planned anew.
	mustExec(t, db, "DROP TABLE items")
	mustExec(t, db, "CREATE TABLE items (v TEXT NOT NULL, id INTEGER PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO items (id, v) VALUES (?, ?)", 5, "e")
	if got := values(t, db, selectFrom, 1); !equal(got, []string{"e"}) {
		t.Fatalf("after the table was made again: %v", got)
	}
}

func TestScriptsRunUncached(t *testing.T) {
	db, n := openCounting(t, 16)
	const script = "INSERT INTO items (v) VALUES ('s1');\nINSERT INTO items (v) VALUES ('s2');"
	for range 2 {
		mustExec(t, db, script)
	}
	if got := values(t, db, "SELECT v FROM items WHERE v LIKE 's%' ORDER BY id"); !equal(got, []string{"s1", "s2", "s1", "s2"}) {
		t.Fatalf("the script ran as %v", got)
	}
	if n.prepares[script] != 0 || n.direct != 2 {
		t.Fatalf("script prepared %d times, %d runs uncached: want 0 and 2", n.prepares[script], n.direct)
	}
	// A statement ending in ';' is one statement.
	const one = "SELECT v FROM items WHERE id = ?;\n"
	for range 2 {
		if got := values(t, db, one, 1); !equal(got, []string{"a"}) {
			t.Fatalf("%v", got)
		}
	}
	if n.prepares[one] != 1 {
		t.Fatalf("single statement with a ';' prepared %d times, want 1", n.prepares[one])
	}
	// Migrations are scripts: Open applies them through the cache's connections.
	mdb := mustOpen(t, filepath.Join(t.TempDir(), "m.db"), Options{Migrations: migrations(cat(m1, m2, m3)...)})
	if got := queryString(t, mdb.Read, "SELECT group_concat(msg) FROM log"); got != "2,3" {
		t.Fatalf("migrations logged %q", got)
	}
}

func TestEviction(t *testing.T) {
	db, n := openCounting(t, 2)
	texts := []string{
		"SELECT v FROM items WHERE id = ?",
		"SELECT v FROM items WHERE id = ? + 0",
		"SELECT v FROM items WHERE id = ? + 0 + 0",
	}
	want := []string{"a", "b", "c"}
	// One transaction holds the pool's one connection, so that rows can stay open meanwhile.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	run := func(i int) {
		t.Helper()
		if got := values(t, tx, texts[i], i+1); !equal(got, want[i:i+1]) {
			t.Fatalf("%s: %v", texts[i], got)
		}
	}
	run(0)
	run(1)
	closed := n.closes
	run(0) // the most recent again: texts[1] is now the oldest
	run(2) // evicts texts[1]
	if n.closes != closed+1 {
		t.Fatalf("%d statements closed by eviction, want 1", n.closes-closed)
	}
	run(0)
	run(1)
	if n.prepares[texts[0]] != 1 || n.prepares[texts[1]] != 2 || n.prepares[texts[2]] != 1 {
		t.Fatalf("prepared %v: want texts[1] again after its eviction, the others once", n.prepares)
	}

	// A statement evicted while its rows are open is closed once they close.
	rows, err := tx.Query(selectFrom, 1)
	if err != nil {
		t.Fatal(err)
	}
	closed = n.closes
	run(2)
	run(0) // evicts selectFrom, in use
	if n.closes != closed+1 {
		t.Fatalf("%d statements closed, want only the one not in use", n.closes-closed)
	}
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Close(); err != nil || !equal(got, want) {
		t.Fatalf("rows of the evicted statement: %v, %v", got, err)
	}
	if n.closes != closed+2 {
		t.Fatalf("the evicted statement was not closed with its rows")
	}

	// Closing the connection closes the statements still cached.
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	prepared := 0
	for _, k := range n.prepares {
		prepared += k
	}
	if n.closes != prepared {
		t.Fatalf("%d statements prepared, %d closed", prepared, n.closes)
	}
}

// The pool's connections each keep their own statements: goroutines querying at once through
// the read pool get their own rows (run with -race).
func TestReadPoolQueriedAtOnce(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "pool.db"), Options{Migrations: migrations(m1...)})
	for i := 1; i <= 20; i++ {
		if _, err := db.Write.Exec("INSERT INTO items (id, v) VALUES (?, ?)", i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := 1 + (g+i)%20
				err := db.ReadTx(ctx, func(tx *sql.Tx) error {
					var v string
					if err := tx.QueryRowContext(ctx, "SELECT v FROM items WHERE id = ?", id).Scan(&v); err != nil {
						return err
					}
					if v != fmt.Sprint("v", id) {
						return fmt.Errorf("item %d read as %q", id, v)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
