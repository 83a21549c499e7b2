package sqlitedb

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
)

var twoSteps = fstest.MapFS{
	"0001_init.sql":    {Data: []byte(`CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);`)},
	"0002_notes.sql":   {Data: []byte(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);`)},
	"README.md":        {Data: []byte("not a migration")},
	"ignored/0003.sql": {Data: []byte("CREATE TABLE never (x);")},
}

// MustOpen opens a database in a temporary directory.
func MustOpen(tb testing.TB, migrations fstest.MapFS) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), "sub", "test.db"), Options{Migrations: migrations, SecureDelete: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestMigrationsApplyOnceInOrder(t *testing.T) {
	db := MustOpen(t, twoSteps)
	if _, err := db.Write.Exec(`UPDATE counter SET n = 5`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := Open(db.Path, Options{Migrations: twoSteps})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var n, versions int
	if err := db2.Read.QueryRow(`SELECT n FROM counter`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("reopening re-ran a migration: n=%d err=%v", n, err)
	}
	if err := db2.Read.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil || versions != 2 {
		t.Fatalf("%d migrations recorded, want 2 (%v)", versions, err)
	}
	renamed := fstest.MapFS{"0001_renamed.sql": twoSteps["0001_init.sql"], "0002_notes.sql": twoSteps["0002_notes.sql"]}
	if _, err := Open(db.Path, Options{Migrations: renamed}); err == nil {
		t.Fatal("a renamed, already applied migration must be refused")
	}
}

func TestFailingMigrationLeavesPreviousVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	broken := fstest.MapFS{
		"0001_init.sql":   twoSteps["0001_init.sql"],
		"0002_broken.sql": {Data: []byte(`CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);`)},
	}
	if _, err := Open(path, Options{Migrations: broken}); err == nil {
		t.Fatal("a failing migration must fail Open")
	}
	db, err := Open(path, Options{Migrations: fstest.MapFS{"0001_init.sql": twoSteps["0001_init.sql"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.Read.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n)
	if n != 0 {
		t.Fatal("the failed migration left a table behind")
	}
}

func TestWriteTxRollsBackOnError(t *testing.T) {
	db := MustOpen(t, twoSteps)
	err := db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE counter SET n = 99`); err != nil {
			return err
		}
		return os.ErrInvalid
	})
	if err != os.ErrInvalid {
		t.Fatalf("WriteTx returned %v", err)
	}
	var n int
	db.Read.QueryRow(`SELECT n FROM counter`).Scan(&n)
	if n != 0 {
		t.Fatalf("n = %d after a rolled-back transaction", n)
	}
}

// Immediate transactions on one writer serialize read-modify-write without SQLITE_BUSY.
func TestConcurrentWritersSerialize(t *testing.T) {
	db := MustOpen(t, twoSteps)
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				errs <- db.WriteTx(context.Background(), func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRow(`SELECT n FROM counter`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.Exec(`UPDATE counter SET n = ?`, n+1)
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	db.Read.QueryRow(`SELECT n FROM counter`).Scan(&n)
	if n != 400 {
		t.Fatalf("counter = %d, want 400", n)
	}
}

func TestPoolsAndPragmas(t *testing.T) {
	db := MustOpen(t, twoSteps)
	if _, err := db.Read.Exec(`INSERT INTO notes (body) VALUES ('x')`); err == nil {
		t.Fatal("the read pool accepted a write")
	}
	for name, pool := range map[string]*sql.DB{"write": db.Write, "read": db.Read} {
		var mode string
		var secure int
		pool.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		pool.QueryRow(`PRAGMA secure_delete`).Scan(&secure)
		if mode != "wal" || secure != 1 {
			t.Fatalf("%s pool: journal_mode %q secure_delete %d", name, mode, secure)
		}
	}
	for _, p := range []string{db.Path, filepath.Dir(db.Path)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Fatalf("%s has mode %v; others must have no access", p, perm)
		}
	}
}

func TestBackupIsAConsistentCopy(t *testing.T) {
	db := MustOpen(t, twoSteps)
	if _, err := db.Write.Exec(`INSERT INTO notes (body) VALUES ('a'), ('b')`); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := db.Backup(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(context.Background(), dst); err == nil {
		t.Fatal("a backup over an existing file must be refused")
	}
	copyDB, err := Open(dst, Options{Migrations: twoSteps})
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var n int
	copyDB.Read.QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&n)
	if n != 2 {
		t.Fatalf("backup holds %d notes, want 2", n)
	}
	if err := db.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
}
