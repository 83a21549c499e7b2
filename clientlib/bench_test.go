package clientlib

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// BenchmarkApplyPage: records/s applied from pulled pages of 1000 new observations of ~300 bytes
// (an initial sync), beside raw inserts of the same blobs in one transaction in the same run.
func BenchmarkApplyPage(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, Options{})
	err := f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE bench_raw (id TEXT PRIMARY KEY, state BLOB NOT NULL)`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("Ida leger med klodser. ", 13)
	const n = 1000
	var applied, raw time.Duration
	for b.Loop() {
		page := make([]*v1.CommittedChange, n)
		for i := range page {
			page[i] = f.commit(syncer.TypeObservation, syncer.NewID(), "visit_id", f.visitID, "at_ms", "1", "text", text, "author", "kim")
		}
		start := time.Now()
		err := f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
			return f.tab.applyPage(ctx, tx, &v1.PullResponse{Changes: page, NextCursor: f.seq}, nil)
		})
		applied += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		err = f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
			for _, ch := range page {
				blob, err := f.tab.store.encodeState(ch)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO bench_raw (id, state) VALUES (?, ?)`, ch.Record.Id, blob); err != nil {
					return err
				}
			}
			return nil
		})
		raw += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/applied.Seconds(), "records/s")
	b.ReportMetric(float64(b.N*n)/raw.Seconds(), "raw-rows/s")
	b.ReportMetric(raw.Seconds()/applied.Seconds(), "ratio-vs-raw")
}
