package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/samvaer/sync/syncer"
)

// rawPostgresInsertRate is the PostgreSQL store's baseline: rows of the same size written into a
// table of the same database by COPY, PostgreSQL's fastest bulk path, in one transaction.
func rawPostgresInsertRate(b *testing.B, address string, rows int) float64 {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, address)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS raw; CREATE TABLE raw (id TEXT PRIMARY KEY, case_id TEXT, body BYTEA)`); err != nil {
		b.Fatal(err)
	}
	data := make([][]any, rows)
	for i := range data {
		data[i] = []any{syncer.NewID(), "case", []byte(benchText)}
	}
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw"}, []string{"id", "case_id", "body"}, pgx.CopyFromRows(data)); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return float64(rows) / time.Since(start).Seconds()
}
