// Package sqltx ends a database/sql transaction the way both stores (internal/sqlitedb and
// internal/pgdb) do: commit when the function returns nil, roll back otherwise, also when it
// panics (the panic goes on). It imports nothing of ours.
package sqltx

import (
	"database/sql"
	"fmt"
)

// Finish runs fn in tx and ends tx. fn's error is returned unwrapped, so callers can match it
// with errors.Is / errors.As; a failed commit is wrapped with what.
func Finish(tx *sql.Tx, fn func(tx *sql.Tx) error, what string) error {
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback() // fn's error (or panic) is the one that matters
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
