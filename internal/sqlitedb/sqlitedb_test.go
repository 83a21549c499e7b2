package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// migrations builds a migrations directory from name/SQL pairs.
func migrations(kv ...string) fstest.MapFS {
	m := fstest.MapFS{"README.md": {Data: []byte("not a migration")}}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

var (
	m1 = []string{"0001_init.sql", "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\nCREATE TABLE counter (n INTEGER NOT NULL);\nINSERT INTO counter VALUES (0);"}
	m2 = []string{"0002_log.sql", "CREATE TABLE log (msg TEXT); INSERT INTO log VALUES ('2');"}
	m3 = []string{"0003_more.sql", "ALTER TABLE items ADD COLUMN extra TEXT; INSERT INTO log VALUES ('3');"}
)

func cat(ms ...[]string) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m...)
	}
	return out
}

func mustOpen(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func applied(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.Read.Query("SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		if v != len(names)+1 {
			t.Fatalf("version %d for %s, want %d", v, name, len(names)+1)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// queryString returns the single value of query, run on a *sql.DB, *sql.Tx or *sql.Conn.
func queryString(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string) string {
	t.Helper()
	var s string
	if err := q.QueryRowContext(context.Background(), query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestMigrationsAppliedOnceInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := Open(path, Options{Migrations: migrations(cat(m1, m2)...)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(applied(t, db), ","); got != "0001_init.sql,0002_log.sql" {
		t.Fatalf("applied %s", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 { // reopen with a new migration, then again with nothing new
		db := mustOpen(t, path, Options{Migrations: migrations(cat(m1, m2, m3)...)})
		if got := strings.Join(applied(t, db), ","); got != "0001_init.sql,0002_log.sql,0003_more.sql" {
			t.Fatalf("applied %s", got)
		}
		if got := queryString(t, db.Read, "SELECT group_concat(msg, ',') FROM log"); got != "2,3" {
			t.Fatalf("log = %q: a migration ran twice or out of order", got)
		}
		db.Close()
	}
}

func TestMigrationErrors(t *testing.T) {
	tests := []struct {
		name   string
		first  []string // applied successfully beforehand
		then   []string // Open with these must fail
		errHas string
	}{
		{"failing migration", m1, cat(m1, []string{"0002_bad.sql", "CREATE TABLE half (x); INSERT INTO nosuch VALUES (1);"}), "0002_bad.sql"},
		{"renamed migration", cat(m1, m2), cat(m1, []string{"0002_renamed.sql", m2[1]}), "append-only"},
		{"inserted migration", cat(m1, m2), cat(m1, []string{"0001_x.sql", "SELECT 1"}, m2), "append-only"},
		{"schema newer than program", cat(m1, m2), m1, "newer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db.sqlite")
			db, err := Open(path, Options{Migrations: migrations(tc.first...)})
			if err != nil {
				t.Fatal(err)
			}
			want := applied(t, db)
			db.Close()

			_, err = Open(path, Options{Migrations: migrations(tc.then...)})
			if err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), "open sqlite") {
				t.Fatalf("Open = %v, want error mentioning %q", err, tc.errHas)
			}

			db = mustOpen(t, path, Options{}) // no migrations: just look
			if got := applied(t, db); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("applied %v after failed Open, want %v", got, want)
			}
			var n int
			if err := db.Read.QueryRow("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'half'").Scan(&n); err != nil || n != 0 {
				t.Fatalf("failed migration left table behind: n=%d err=%v", n, err)
			}
		})
	}
}

func TestWriteTxRollsBack(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "db.sqlite"), Options{Migrations: migrations(m1...)})
	ctx := context.Background()
	errBoom := errors.New("boom")
	insert := func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO items (v) VALUES ('x')")
		return err
	}

	if err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := insert(tx); err != nil {
			return err
		}
		return errBoom
	}); !errors.Is(err, errBoom) {
		t.Fatalf("WriteTx = %v, want fn's error", err)
	}

	func() {
		defer func() {
			if p := recover(); p != "panic in fn" {
				t.Fatalf("recovered %v, want the re-raised panic", p)
			}
		}()
		db.WriteTx(ctx, func(tx *sql.Tx) error {
			insert(tx)
			panic("panic in fn")
		})
	}()

	if got := queryString(t, db.Read, "SELECT COUNT(*) FROM items"); got != "0" {
		t.Fatalf("%s rows after rollbacks, want 0", got)
	}
	// The single writer connection must be usable again afterwards.
	if err := db.WriteTx(ctx, insert); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, db.Read, "SELECT COUNT(*) FROM items"); got != "1" {
		t.Fatalf("%s rows after commit, want 1", got)
	}
}

// TestConcurrentWriteTx does read-modify-write increments from two independent DB handles on
// the same file. With deferred transactions the read lock's upgrade would fail with
// SQLITE_BUSY; with BEGIN IMMEDIATE the busy timeout serializes them.
func TestConcurrentWriteTx(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	dbs := []*DB{
		mustOpen(t, path, Options{Migrations: migrations(m1...)}),
		mustOpen(t, path, Options{Migrations: migrations(m1...)}),
	}
	const goroutines, increments = 8, 50
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*increments)
	for g := range goroutines {
		wg.Go(func() {
			db := dbs[g%len(dbs)]
			for range increments {
				errs <- db.WriteTx(ctx, func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRow("SELECT n FROM counter").Scan(&n); err != nil {
						return err
					}
					_, err := tx.Exec("UPDATE counter SET n = ?", n+1)
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := queryString(t, dbs[0].Read, "SELECT n FROM counter"); got != "400" {
		t.Fatalf("counter = %s, want %d", got, goroutines*increments)
	}
}

func TestReadPoolCannotWrite(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "db.sqlite"), Options{Migrations: migrations(m1...)})
	if _, err := db.Read.Exec("INSERT INTO items (v) VALUES ('x')"); err == nil {
		t.Fatal("INSERT via Read succeeded")
	}
	err := db.ReadTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO items (v) VALUES ('x')")
		return err
	})
	if err == nil {
		t.Fatal("INSERT via ReadTx succeeded")
	}
}

func TestReadTxIsSnapshot(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "db.sqlite"), Options{Migrations: migrations(m1...)})
	ctx := context.Background()
	err := db.ReadTx(ctx, func(tx *sql.Tx) error {
		before := queryString(t, tx, "SELECT COUNT(*) FROM items")
		if err := db.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec("INSERT INTO items (v) VALUES ('x')")
			return err
		}); err != nil {
			return err
		}
		if after := queryString(t, tx, "SELECT COUNT(*) FROM items"); after != before {
			t.Errorf("count changed inside ReadTx: %s -> %s", before, after)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, db.Read, "SELECT COUNT(*) FROM items"); got != "1" {
		t.Fatalf("count after ReadTx = %s, want 1", got)
	}
}

func TestPragmas(t *testing.T) {
	for _, secure := range []bool{false, true} {
		db := mustOpen(t, filepath.Join(t.TempDir(), "db.sqlite"), Options{SecureDelete: secure, ReadConns: 2})
		wantSecure := map[bool]string{false: "0", true: "1"}[secure]
		for _, pool := range []struct {
			name string
			db   *sql.DB
		}{{"write", db.Write}, {"read", db.Read}} {
			for pragma, want := range map[string]string{
				"journal_mode":  "wal",
				"busy_timeout":  "5000",
				"foreign_keys":  "1",
				"secure_delete": wantSecure,
			} {
				// Ask every connection of the pool, not just the first one.
				conns := make([]*sql.Conn, 0, pool.db.Stats().MaxOpenConnections)
				for range cap(conns) {
					c, err := pool.db.Conn(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					conns = append(conns, c)
					if got := queryString(t, c, "PRAGMA "+pragma); got != want {
						t.Errorf("secure=%v %s pool: %s = %s, want %s", secure, pool.name, pragma, got, want)
					}
				}
				for _, c := range conns {
					c.Close()
				}
			}
		}
		if got := queryString(t, db.Write, "PRAGMA synchronous"); got != "1" {
			t.Errorf("writer synchronous = %s, want 1 (NORMAL)", got)
		}
		if n := db.Write.Stats().MaxOpenConnections; n != 1 {
			t.Errorf("writer MaxOpenConnections = %d, want 1", n)
		}
	}
}

func TestFileModesAndOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new dir", "sub")
	path := filepath.Join(dir, "odd name?x=1&y#%20.sqlite")
	db := mustOpen(t, path, Options{Migrations: migrations(m1...)})
	if err := db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO items (v) VALUES ('x')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {path, 0o600}, {path + "-wal", 0o600}, {path + "-shm", 0o600}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err) // also catches a mis-escaped path: the file would be elsewhere
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("%d files in %s, want db, -wal and -shm", len(entries), dir)
	}
}

func TestCheckpointTruncatesWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db := mustOpen(t, path, Options{Migrations: migrations(m1...), SecureDelete: true})
	ctx := context.Background()
	if err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO items (v) VALUES ('secret')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("expected a non-empty WAL: %v", err)
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("WAL not truncated: size %d, err %v", fi.Size(), err)
	}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, filepath.Join(dir, "db.sqlite"), Options{Migrations: migrations(cat(m1, m2)...)})
	ctx := context.Background()
	if err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		for _, v := range []string{"a", "b", "c"} {
			if _, err := tx.Exec("INSERT INTO items (v) VALUES (?)", v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "backup.sqlite")
	if err := db.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi, err)
	}
	if err := db.Backup(ctx, dst); err == nil {
		t.Fatal("Backup over an existing file succeeded")
	}

	b := mustOpen(t, dst, Options{Migrations: migrations(cat(m1, m2)...)})
	if got := queryString(t, b.Read, "SELECT group_concat(v, ',') FROM (SELECT v FROM items ORDER BY id)"); got != "a,b,c" {
		t.Fatalf("backup items = %q", got)
	}
	if got := len(applied(t, b)); got != 2 {
		t.Fatalf("backup has %d migrations, want 2", got)
	}
}

// A write that does not fit (here SQLite's page limit, the same SQLITE_FULL a full disk gives)
// is reported to WriteDone and recognised by IsFull; WriteDone's result is what WriteTx returns,
// and a later write that fits reports nil. The full write left nothing behind.
func TestWriteDoneSeesAFullDatabase(t *testing.T) {
	var outcomes []error
	replaced := errors.New("the disk is full")
	db, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{
		Migrations: migrations("0001_init.sql", "CREATE TABLE t (b BLOB);"),
		WriteDone: func(err error) error {
			outcomes = append(outcomes, err)
			if IsFull(err) {
				return replaced
			}
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	outcomes = nil // the migrations' writes
	var pages int64
	if err := db.Write.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+4)); err != nil {
		t.Fatal(err)
	}
	err = db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO t VALUES (randomblob(64 << 10))")
		return err
	})
	if err != replaced || len(outcomes) != 1 || !IsFull(outcomes[0]) {
		t.Fatalf("a write past the limit: %v (outcomes %v)", err, outcomes)
	}
	if err := db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO t VALUES (x'01')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(outcomes) != 2 || outcomes[1] != nil || IsFull(errors.New("constraint failed")) {
		t.Fatalf("outcomes %v", outcomes)
	}
	var n int
	if err := db.Read.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want only the one that fit", n, err)
	}
}
