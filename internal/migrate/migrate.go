// Package migrate applies a program's embedded, append-only SQL migrations to a database, each
// once, on SQLite (the tablet and the default server) and on PostgreSQL alike.
//
// The files of a directory are named 0001_init.sql, 0002_x.sql, ...; the file at index i in name
// order is schema version i+1, recorded with its name in schema_migrations. Each pending file runs
// in its own write transaction, which first checks again whether it was applied: the caller's
// write transactions are serialised (SQLite has one writer; on PostgreSQL every write transaction
// takes one advisory lock), so several processes starting together apply each file exactly once.
// Renaming or inserting an already-applied file is an error.
//
// It imports nothing of ours. It is smaller than goose or golang-migrate for what both stores
// need, and it keeps the version table every deployed database already has.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"
)

// WriteTx runs fn in one serialised write transaction, committing when fn returns nil.
type WriteTx func(ctx context.Context, fn func(tx *sql.Tx) error) error

// Apply applies the migrations in files (a directory of *.sql) not yet recorded. Statements use
// ? placeholders (the PostgreSQL store rewrites them).
func Apply(ctx context.Context, writeTx WriteTx, files fs.FS) error {
	if files == nil {
		return nil
	}
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	err = writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var newest int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if newest > len(names) {
			return fmt.Errorf("schema version %d is newer than the %d migrations this program knows", newest, len(names))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, name := range names {
		version := i + 1
		err := writeTx(ctx, func(tx *sql.Tx) error {
			var applied string
			err := tx.QueryRowContext(ctx, "SELECT name FROM schema_migrations WHERE version = ?", version).Scan(&applied)
			switch {
			case err == nil && applied == name:
				return nil
			case err == nil:
				return fmt.Errorf("version %d was applied as %s, now named %s: migrations are append-only", version, applied, name)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			body, err := fs.ReadFile(files, name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
				version, name, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}
