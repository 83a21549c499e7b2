package pgdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/samvaer/sync/internal/pgtest"
	"github.com/samvaer/sync/internal/sqltx"
)

func TestRebindNumbersPlaceholdersOutsideQuotesAndComments(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"},
		{"SELECT '?' FROM t WHERE b = ?", "SELECT '?' FROM t WHERE b = $1"},
		{`SELECT "odd?name" FROM t WHERE b = ?`, `SELECT "odd?name" FROM t WHERE b = $1`},
		{"SELECT 1 -- what?\nWHERE b = ?", "SELECT 1 -- what?\nWHERE b = $1"},
		{"SELECT 'it''s ?' WHERE b = ?", "SELECT 'it''s ?' WHERE b = $1"},
		{"UPDATE t SET a = ? -- trailing?", "UPDATE t SET a = $1 -- trailing?"},
	} {
		if got := Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactLeavesThePasswordOut(t *testing.T) {
	if got := Redact("postgres://samvaer:hemmelig@db.example:5432/samvaer"); got != "postgres://samvaer:xxxxx@db.example:5432/samvaer" {
		t.Fatalf("Redact: %q", got)
	}
}

// openTestDB opens a database of the test's own with one connection, so every transaction of
// the test runs on the same connection (and would find a queue a transaction left behind).
func openTestDB(t *testing.T) *DB {
	t.Helper()
	if !pgtest.Enabled() {
		t.Skip("needs PostgreSQL: set " + pgtest.Env)
	}
	db, err := Open(context.Background(), pgtest.DatabaseFor(t, t.TempDir()), Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Read.Exec(`CREATE TABLE t (n BIGINT PRIMARY KEY, note TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func insertLater(tx *sql.Tx, n int64) error {
	_, err := tx.ExecContext(sqltx.Later(context.Background()), `INSERT INTO t (n, note) VALUES (?, ?)`, n, fmt.Sprint("row ", n))
	return err
}

func stored(t *testing.T, db *DB) []int64 {
	t.Helper()
	rows, err := db.Read.Query(`SELECT n FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ns []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	return ns
}

func TestHeldBackStatementsRunInOrderAndAReadSeesThem(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		for n := int64(1); n <= 3; n++ {
			if err := insertLater(tx, n); err != nil {
				return err
			}
		}
		// In order: the update finds row 3, inserted by the statement before it.
		if _, err := tx.ExecContext(sqltx.Later(ctx), `UPDATE t SET note = 'third' WHERE n = 3`); err != nil {
			return err
		}
		var count int64
		var note string
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MAX(note) FILTER (WHERE n = 3) FROM t`).Scan(&count, &note); err != nil {
			return err
		}
		if count != 3 || note != "third" {
			t.Errorf("the read saw %d rows and note %q; want the 3 rows held back before it, the last updated", count, note)
		}
		return insertLater(tx, 4) // goes with the commit
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := stored(t, db); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Fatalf("stored %v, want [1 2 3 4]", got)
	}
}

func TestSeveralStatementsInOneExecRunAfterTheHeldBackOnes(t *testing.T) {
	db := openTestDB(t)
	err := db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		if err := insertLater(tx, 1); err != nil {
			return err
		}
		// As a migration file is run: no arguments, several statements.
		_, err := tx.Exec(`UPDATE t SET note = 'seen' WHERE n = 1; INSERT INTO t (n, note) VALUES (2, 'two;');`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var note string
	if err := db.Read.QueryRow(`SELECT note FROM t WHERE n = 1`).Scan(&note); err != nil || note != "seen" {
		t.Fatalf("row 1's note %q (%v), want it updated by the statement after it", note, err)
	}
	if got := stored(t, db); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("stored %v, want [1 2]", got)
	}
}

func TestAHeldBackStatementsErrorFailsTheTransaction(t *testing.T) {
	for _, tc := range []struct {
		name string
		then func(tx *sql.Tx) error // after the failing statement
	}{
		{"with the commit", func(tx *sql.Tx) error { return nil }},
		{"with a read", func(tx *sql.Tx) error {
			var n int64
			return tx.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n)
		}},
		{"with a write that needs its answer", func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO t (n, note) VALUES (?, 'answered')`, 7)
			return err
		}},
		{"with a read whose error is ignored", func(tx *sql.Tx) error {
			var n int64
			_ = tx.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTestDB(t)
			if _, err := db.Read.Exec(`INSERT INTO t (n, note) VALUES (1, 'before')`); err != nil {
				t.Fatal(err)
			}
			err := db.WriteTx(context.Background(), func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO t (n, note) VALUES (?, 'sent at once')`, 2); err != nil {
					return err
				}
				if err := insertLater(tx, 3); err != nil {
					return err
				}
				if err := insertLater(tx, 1); err != nil { // row 1 exists: a primary key violation
					return err
				}
				if err := insertLater(tx, 4); err != nil {
					return err
				}
				return tc.then(tx)
			})
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "23505" {
				t.Fatalf("WriteTx: %v, want the held-back insert's unique violation", err)
			}
			if got := stored(t, db); !slices.Equal(got, []int64{1}) {
				t.Fatalf("stored %v, want only the row from before the transaction", got)
			}
			// The connection is clean for the next transaction.
			if err := db.WriteTx(context.Background(), func(tx *sql.Tx) error { return insertLater(tx, 5) }); err != nil {
				t.Fatal(err)
			}
			if got := stored(t, db); !slices.Equal(got, []int64{1, 5}) {
				t.Fatalf("stored %v, want [1 5]", got)
			}
		})
	}
}

func TestARollbackDropsTheHeldBackStatements(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	refused := errors.New("refused")
	for _, read := range []bool{false, true} {
		err := db.WriteTx(ctx, func(tx *sql.Tx) error {
			if err := insertLater(tx, 1); err != nil {
				return err
			}
			if read {
				var n int64
				if err := tx.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil {
					return err
				}
			}
			if err := insertLater(tx, 2); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("WriteTx: %v, want its function's error", err)
		}
	}
	// The same (only) connection runs the next transaction: nothing of the queue is left.
	if err := db.WriteTx(ctx, func(tx *sql.Tx) error { return insertLater(tx, 3) }); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, db); !slices.Equal(got, []int64{3}) {
		t.Fatalf("stored %v, want [3]", got)
	}
}

func TestReadsAfterHeldBackStatementsScanAsPlainReads(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	const query = `SELECT 42::bigint, 7::integer, 3::smallint, 'tekst'::text, '\x00ff'::bytea, true,
		12345678901234567890::numeric, 1.5::float8, '2026-12-01 10:00:00+00'::timestamptz, NULL::bytea, SUM(n) FROM t`
	type row struct {
		i8, i4, i2 int64
		text       string
		blob       []byte
		flag       bool
		num        string
		f          float64
		at         time.Time
		null       []byte
		sum        sql.NullInt64
	}
	scan := func(tx *sql.Tx) (r row, err error) {
		err = tx.QueryRowContext(ctx, query).Scan(&r.i8, &r.i4, &r.i2, &r.text, &r.blob, &r.flag, &r.num, &r.f, &r.at, &r.null, &r.sum)
		return r, err
	}
	var plain, batched row
	err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO t (n, note) VALUES (1, 'one')`); err != nil { // the lock and BEGIN go with it
			return err
		}
		var err error
		if plain, err = scan(tx); err != nil { // nothing waits: pgx's own path
			return err
		}
		if err := insertLater(tx, 2); err != nil {
			return err
		}
		batched, err = scan(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	plain.sum.Int64 = 3 // row 2 came between the reads
	if plain.at.Equal(batched.at) {
		batched.at = plain.at
	}
	if !reflect.DeepEqual(plain, batched) {
		t.Fatalf("after held-back statements the read scans %+v, alone %+v", batched, plain)
	}
}

// The lock travels with the transaction's first statement and is granted before that
// statement reads: concurrent read-then-write transactions lose no update.
func TestTheWriteLockComesBeforeTheFirstRead(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("needs PostgreSQL: set " + pgtest.Env)
	}
	// Two handles on the database, as two server processes: the writers of one process wait
	// their turn in it (DB.writer), so only the lock orders the two.
	address := pgtest.DatabaseFor(t, t.TempDir())
	var dbs []*DB
	for range 2 {
		db, err := Open(context.Background(), address, Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	db := dbs[0]
	if _, err := db.Read.Exec(`CREATE TABLE counter (one INTEGER PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO counter VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		db := dbs[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := db.WriteTx(context.Background(), func(tx *sql.Tx) error {
					var n int64
					if err := tx.QueryRow(`SELECT n FROM counter WHERE one = ?`, 1).Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(sqltx.Later(context.Background()), `UPDATE counter SET n = ? WHERE one = 1`, n+1)
					return err
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
		t.Fatal(err)
	}
	var n int64
	if err := db.Read.QueryRow(`SELECT n FROM counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Fatalf("counter is %d after %d increments: a transaction read before it held the lock", n, writers*each)
	}
}

// TestQueuedWritersLeaveTheReadsTheirConnections: a process's writers wait for their turn
// without a connection, so reads still find one while a write holds the lock. When every
// queued writer held a connection while PostgreSQL made it wait for the lock, the pool's
// sixteen went to sixteen queued pushes, and pulls waited for the pushes.
func TestQueuedWritersLeaveTheReadsTheirConnections(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("needs PostgreSQL: set " + pgtest.Env)
	}
	db, err := Open(context.Background(), pgtest.DatabaseFor(t, t.TempDir()), Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holding, release := make(chan struct{}), make(chan struct{})
	var writes sync.WaitGroup
	writes.Add(1)
	go func() {
		defer writes.Done()
		_ = db.WriteTx(context.Background(), func(tx *sql.Tx) error {
			if _, err := tx.Exec(`SELECT 1`); err != nil { // the lock is taken
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	const queued = 3
	var started sync.WaitGroup
	for range queued {
		started.Add(1)
		writes.Add(1)
		go func() {
			defer writes.Done()
			started.Done()
			_ = db.WriteTx(context.Background(), func(tx *sql.Tx) error {
				_, err := tx.Exec(`SELECT 1`)
				return err
			})
		}()
	}
	started.Wait()
	time.Sleep(100 * time.Millisecond) // the queued writers reach their wait
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var one int
	err = db.Read.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
	close(release)
	writes.Wait()
	if err != nil {
		t.Fatalf("a read while %d writers wait for one that holds the lock: %v (the waiting writers hold the pool's connections)", queued, err)
	}
	if inUse := db.Read.Stats().InUse; inUse != 0 {
		t.Errorf("%d connections still in use after every write ended", inUse)
	}
}
