// Package sqlitedb opens a SQLite database the way both the server and the tablet need it:
// modernc.org/sqlite (pure Go), pragmas in the DSN so every pooled connection gets them (busy
// timeout first), WAL, exactly one writer connection whose transactions all begin IMMEDIATE,
// a separate read-only pool, append-only migrations from an embedded directory each applied once
// in its own transaction, a cache of prepared statements on every connection, a WAL checkpoint
// for after purges, and online backup.
//
// It imports nothing of ours but the migration runner and the transaction ending, so the sync server and the tablet client library can share it.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"modernc.org/sqlite"

	"github.com/samvaer/sync/internal/migrate"
	"github.com/samvaer/sync/internal/sqltx"
)

// DB is an open database: one writer connection and a read-only pool on the same file.
type DB struct {
	// Write has exactly one connection, and every transaction on it is BEGIN IMMEDIATE. Inside
	// WriteTx use only the *sql.Tx: using Write directly (or nesting WriteTx) would deadlock.
	Write *sql.DB
	// Read is a pool of read-only connections (mode=ro); every write on it fails.
	Read *sql.DB
	// Path is the database file as given to Open.
	Path string

	writeDone func(error) error
}

// Options tune Open. The zero value is valid: no migrations, 4 read connections.
type Options struct {
	// Migrations is a directory of *.sql files (typically fs.Sub of an embed.FS), named
	// 0001_init.sql, 0002_x.sql, ... The file at index i in name order is schema version i+1.
	// Each pending file runs once, in its own transaction, and is recorded in schema_migrations.
	// Migrations are append-only: renaming or inserting an already-applied file is an error.
	Migrations fs.FS
	// ReadConns is the size of the read pool; 0 means 4.
	ReadConns int
	// SecureDelete sets PRAGMA secure_delete=ON on every connection, so deleted content is
	// overwritten instead of lingering in free pages.
	SecureDelete bool
	// WriteDone, when set, is called with the outcome of every WriteTx (nil for a commit) and
	// its result is returned instead: the server uses it to notice a full disk, and to turn
	// that error into one a person understands.
	WriteDone func(err error) error
}

// dsn builds the modernc.org/sqlite DSN for the absolute path. The driver runs the _pragma
// values on every new connection, busy_timeout (ms) first so the others wait for locks.
func dsn(path string, write, secureDelete bool) string {
	q := "_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)"
	if secureDelete {
		q += "&_pragma=secure_delete(ON)"
	}
	if write {
		q += "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(16384)&_txlock=immediate"
	} else {
		q += "&mode=ro" // the writer has already put the file in WAL mode
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q
}

// Open opens the database at path, creating its parent directory (0700) and the file (0600)
// when missing, and applies pending migrations.
func Open(path string, opts Options) (*DB, error) {
	db, err := open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

func open(path string, opts Options) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}
	// Create the file ourselves so its mode does not depend on the umask; SQLite gives the
	// -wal and -shm files the same mode as the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	db := &DB{Path: path, writeDone: opts.WriteDone}
	if db.Write, err = openPool(dsn(abs, true, opts.SecureDelete)); err != nil {
		return nil, err
	}
	db.Write.SetMaxOpenConns(1)
	db.Write.SetConnMaxIdleTime(0)
	db.Write.SetConnMaxLifetime(0)
	if err := db.Write.Ping(); err != nil { // creates the WAL before any reader opens
		db.Write.Close()
		return nil, err
	}
	if err := migrate.Apply(context.Background(), db.WriteTx, opts.Migrations); err != nil {
		db.Write.Close()
		return nil, err
	}

	if db.Read, err = openPool(dsn(abs, false, opts.SecureDelete)); err != nil {
		db.Write.Close()
		return nil, err
	}
	n := opts.ReadConns
	if n <= 0 {
		n = 4
	}
	db.Read.SetMaxOpenConns(n)
	db.Read.SetMaxIdleConns(n)
	if err := db.Read.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openPool opens a pool of connections to dsn whose connections keep their prepared statements
// (stmtcache.go).
func openPool(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(caching{Connector: c, size: statementCacheSize}), nil
}

// Close closes the read pool, then the writer (the last connection checkpoints the WAL).
func (db *DB) Close() error {
	var errs []error
	if db.Read != nil {
		errs = append(errs, db.Read.Close())
	}
	errs = append(errs, db.Write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite %s: %w", db.Path, err)
	}
	return nil
}

// WriteTx runs fn in one immediate write transaction. It commits if fn returns nil and rolls
// back otherwise, also when fn panics (the panic is then re-raised). fn's error is returned
// unwrapped so callers can match it with errors.Is / errors.As.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := db.writeTx(ctx, fn)
	if db.writeDone != nil {
		return db.writeDone(err)
	}
	return err
}

func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write on %s: %w", db.Path, err)
	}
	return sqltx.Finish(tx, fn, "commit on "+db.Path)
}

// sqliteFull is SQLITE_FULL, SQLite's primary result code for "database or disk is full".
const sqliteFull = 13

// IsFull reports whether err says the disk (or the file system's quota) is full: SQLite's
// SQLITE_FULL, or ENOSPC from a file written directly. SQLite's own sentence is recognised too,
// for an error wrapped without %w on its way up.
func IsFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteFull {
		return true
	}
	return err != nil && (errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "database or disk is full"))
}

// ReadTx runs fn in one read transaction on the read pool: in WAL mode every query in it sees
// the same snapshot (taken at its first read), unaffected by concurrent writes.
func (db *DB) ReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read on %s: %w", db.Path, err)
	}
	return sqltx.Finish(tx, fn, "end read on "+db.Path)
}

// Checkpoint copies the whole WAL into the database file and truncates the WAL, so content
// deleted by a purge or wipe no longer survives in it. It fails if a reader kept it from
// completing within the busy timeout.
func (db *DB) Checkpoint(ctx context.Context) error {
	var busy, walFrames, checkpointed int
	err := db.Write.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &walFrames, &checkpointed)
	if err == nil && busy != 0 {
		err = errors.New("database busy, WAL not truncated")
	}
	if err != nil {
		return fmt.Errorf("checkpoint sqlite %s: %w", db.Path, err)
	}
	return nil
}

// Backup writes a consistent copy of the live database to dst (mode 0600) with VACUUM INTO.
// dst must not exist. It runs on the read pool, so writers are not blocked meanwhile.
func (db *DB) Backup(ctx context.Context, dst string) error {
	// VACUUM INTO accepts an empty existing file; creating it here with O_EXCL makes "must not
	// exist" atomic and the mode independent of the umask.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = f.Close()
		if err == nil {
			_, err = db.Read.ExecContext(ctx, "VACUUM INTO ?", dst)
		}
		if err != nil {
			os.Remove(dst)
		}
	}
	if err != nil {
		return fmt.Errorf("backup sqlite %s to %s: %w", db.Path, dst, err)
	}
	return nil
}

// Reclaim is Checkpoint: after deleting, the WAL no longer holds what was deleted (with
// SecureDelete, neither do the database's free pages).
func (db *DB) Reclaim(ctx context.Context) error { return db.Checkpoint(ctx) }
