// Package sqltx holds what both stores (internal/sqlitedb and internal/pgdb) share about a
// database/sql transaction: how it ends (commit when the function returns nil, roll back
// otherwise, also when it panics; the panic goes on), and the mark of a statement whose answer
// the caller does not need (Later). It imports nothing of ours.
package sqltx

import (
	"context"
	"database/sql"
	"fmt"
)

type laterKey struct{}

// Later marks a statement run with the returned context as one whose answer the caller does not
// wait for: an insert of rows known to be new, an update whose count nobody reads, a
// notification. A store may hold it back and send it with the transaction's next statement that
// does need an answer, or with the commit, in one round trip (internal/pgdb does); an error it
// meets then fails that statement or the commit, so the transaction rolls back. SQLite, in the
// process, runs it at once. The result of a held-back statement tells no row counts.
func Later(ctx context.Context) context.Context { return context.WithValue(ctx, laterKey{}, true) }

// IsLater reports whether ctx carries the mark of Later.
func IsLater(ctx context.Context) bool {
	later, _ := ctx.Value(laterKey{}).(bool)
	return later
}

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
