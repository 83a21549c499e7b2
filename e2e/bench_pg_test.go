package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/samvaer/sync/syncer"
)

// The PostgreSQL store's baselines: rows of the same size written into a table of the same
// database in one transaction, by COPY (PostgreSQL's fastest bulk path) and by multi-row
// INSERTs of 100 rows each (the statements the store's batched creates use, server/batch.go).

// rawPostgresInsertRate is the COPY baseline.
func rawPostgresInsertRate(b *testing.B, address string, rows int) float64 {
	b.Helper()
	ctx := context.Background()
	conn, data := rawPostgresTable(b, address, rows)
	defer conn.Close(ctx)
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

// rawPostgresMultiInsertRate is the multi-row INSERT baseline: one statement per 100 rows, each
// waiting for its answer, as a plain client sends them.
func rawPostgresMultiInsertRate(b *testing.B, address string, rows int) float64 {
	b.Helper()
	const perStatement = 100
	ctx := context.Background()
	conn, data := rawPostgresTable(b, address, rows)
	defer conn.Close(ctx)
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), perStatement)
		var query strings.Builder
		query.WriteString("INSERT INTO raw (id, case_id, body) VALUES ")
		args := make([]any, 0, 3*n)
		for i, row := range data[:n] {
			if i > 0 {
				query.WriteString(", ")
			}
			k := len(args)
			query.WriteString("($" + strconv.Itoa(k+1) + ", $" + strconv.Itoa(k+2) + ", $" + strconv.Itoa(k+3) + ")")
			args = append(args, row...)
		}
		if _, err := tx.Exec(ctx, query.String(), args...); err != nil {
			b.Fatal(err)
		}
		data = data[n:]
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return float64(rows) / time.Since(start).Seconds()
}

// rawPostgresTable connects, makes the baseline's table afresh and the rows to write into it.
func rawPostgresTable(b *testing.B, address string, rows int) (*pgx.Conn, [][]any) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, address)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS raw; CREATE TABLE raw (id TEXT PRIMARY KEY, case_id TEXT, body BYTEA)`); err != nil {
		conn.Close(ctx)
		b.Fatal(err)
	}
	data := make([][]any, rows)
	for i := range data {
		data[i] = []any{syncer.NewID(), "case", []byte(benchText)}
	}
	return conn, data
}
