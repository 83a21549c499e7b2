package e2e

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/samvaer/sync/internal/pgdb"
	"github.com/samvaer/sync/internal/pgtest"
	"github.com/samvaer/sync/server"
)

// The end-to-end tests run against both stores: SQLite in the data directory by default, and a
// PostgreSQL database per data directory when SAMVAER_TEST_POSTGRES is set (internal/pgtest;
// make test runs both). Backups and restores are then what an operator does on each: a copy of
// the database file, or pg_dump and pg_restore.

// databaseFor is the database of a server's data directory: "" for SQLite in it.
func databaseFor(t testing.TB, dir string) string { return pgtest.DatabaseFor(t, dir) }

// openStore opens a server's store as `samvaer admin` does on its host.
func openStore(t testing.TB, dir string) (*server.Store, error) {
	return server.OpenStoreOn(dir, databaseFor(t, dir), nil)
}

// sqliteOnly skips a test about the SQLite file itself in the PostgreSQL pass, saying why; the
// SQLite pass runs it.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if pgtest.Enabled() {
		t.Skipf("about the SQLite store only (%s); the SQLite pass of make test runs it", why)
	}
}

// rawServerDB opens a server's database directly, as a person holding it (not the server) would.
func rawServerDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if address := databaseFor(t, dir); address != "" {
		db, err = pgdb.OpenPool(address)
	} else {
		db, err = sql.Open("sqlite", filepath.Join(dir, server.DBFile))
	}
	mustDo(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// serverFiles lists where a server's data lies on disk, for the at-rest tests: its data
// directory, and on PostgreSQL also its database's files and the cluster's write-ahead log, after
// a CHECKPOINT has written every changed page out (the tests run as the machine's root, who can
// read them, as can whoever holds the disk).
func serverFiles(t testing.TB, dir string) []string {
	t.Helper()
	if databaseFor(t, dir) == "" {
		return []string{dir}
	}
	db := rawServerDB(t, dir)
	var data string
	var oid int64
	mustDo(t, db.QueryRow(`SELECT current_setting('data_directory'), (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&data, &oid))
	_, err := db.Exec(`CHECKPOINT`)
	mustDo(t, err)
	return []string{dir, filepath.Join(data, "base", strconv.FormatInt(oid, 10)), filepath.Join(data, "pg_wal")}
}

// backupServer writes a backup of a running server's database to path: SQLite's online backup,
// or pg_dump.
func backupServer(t testing.TB, st *server.Store, dir, path string) error {
	if address := databaseFor(t, dir); address != "" {
		return pgtest.Dump(address, path)
	}
	return st.Backup(context.Background(), path)
}

// restoreServer puts a stopped server's database back to the backup at path: the file copied in
// place of the database (its WAL removed; the keys stay), or pg_restore into a new database.
func restoreServer(t testing.TB, dir, path string) error {
	if address := databaseFor(t, dir); address != "" {
		return pgtest.Restore(address, path)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(dir, server.DBFile+suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, server.DBFile), data, 0o600)
}
