package clientlib

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
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

// plainSealer stores blobs as they are: the baseline that shows what sealing costs.
type plainSealer struct{}

func (plainSealer) Seal(p, _ []byte) ([]byte, error) { return bytes.Clone(p), nil }
func (plainSealer) Open(b, _ []byte) ([]byte, error) { return bytes.Clone(b), nil }

// BenchmarkSealing: what encryption at rest costs the tablet: records/s applied from pulled
// pages of 1000 new observations, and observations/s written (each with its outbox entry), by a
// store sealing with the data key beside the same store keeping plaintext, in the same run.
func BenchmarkSealing(b *testing.B) {
	ctx := context.Background()
	sealed := newFixture(b, Options{})
	plain := newFixtureSealing(b, "http://127.0.0.1:1", newTestClock(), Options{}, plainSealer{})
	text := strings.Repeat("Ida leger med klodser. ", 13)
	const n, writes = 1000, 200
	var applyT, writeT [2]time.Duration
	for b.Loop() {
		for i, f := range []*fixture{sealed, plain} {
			page := make([]*v1.CommittedChange, n)
			for j := range page {
				page[j] = f.commit(syncer.TypeObservation, syncer.NewID(), "visit_id", f.visitID, "at_ms", "1", "text", text, "author", "kim")
			}
			start := time.Now()
			err := f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
				return f.tab.applyPage(ctx, tx, &v1.PullResponse{Changes: page, NextCursor: f.seq}, nil)
			})
			applyT[i] += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			for range writes {
				if _, err := f.tab.Observe(ctx, f.visitID, text); err != nil {
					b.Fatal(err)
				}
			}
			writeT[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(b.N*n)/applyT[0].Seconds(), "pulled-records/s")
	b.ReportMetric(applyT[1].Seconds()/applyT[0].Seconds(), "ratio-pull-vs-plain")
	b.ReportMetric(float64(b.N*writes)/writeT[0].Seconds(), "writes/s")
	b.ReportMetric(writeT[1].Seconds()/writeT[0].Seconds(), "ratio-write-vs-plain")
}

// BenchmarkPINUnlock: the time Argon2id with DefaultKDF takes to turn a PIN into a key, which is
// what every unlock of the tablet costs on purpose.
func BenchmarkPINUnlock(b *testing.B) {
	salt := make([]byte, 16)
	for b.Loop() {
		if _, err := pinKey("2468", salt, DefaultKDF); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/unlock")
}

// BenchmarkPINAttemptCount: what the PIN limit adds to an unlock — counting the attempt before
// the check and resetting it after a right PIN (FileKeyProvider: a lock across processes and an
// atomic, synced rewrite of platform.key, twice) — beside the Argon2id check itself (DefaultKDF),
// measured in the same run.
func BenchmarkPINAttemptCount(b *testing.B) {
	p := FileKeyProvider{Path: filepath.Join(b.TempDir(), platformKeyFile)}
	if _, err := p.Wrap([]byte("data key")); err != nil {
		b.Fatal(err)
	}
	salt := make([]byte, 16)
	start := time.Now()
	const checks = 3
	for range checks {
		if _, err := pinKey("2468", salt, DefaultKDF); err != nil {
			b.Fatal(err)
		}
	}
	check := time.Since(start) / checks
	for b.Loop() {
		if _, err := p.CountUnlockAttempt(); err != nil {
			b.Fatal(err)
		}
		if err := p.ResetUnlockAttempts(); err != nil {
			b.Fatal(err)
		}
	}
	count := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(count.Microseconds()), "µs/attempt")
	b.ReportMetric(float64(count)/float64(check), "ratio-to-argon2id")
}

// BenchmarkSettleAndConfirm: the tablet's side of pushing its own observations, per change, in
// batches of 500 observations of ~300 bytes: reading and unsealing the outbox batch, settling the
// server's answers, and applying the pulled page that brings their commits back (the record's
// confirmed state, the entry moved to the kept changes), beside raw inserts of the same sealed
// states in one transaction in the same run.
func BenchmarkSettleAndConfirm(b *testing.B) {
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
	const n = 500
	var read, settle, confirm, raw time.Duration
	for b.Loop() {
		b.StopTimer()
		obs := make([]Observation, n)
		for i := range obs {
			if obs[i], err = f.tab.Observe(ctx, f.visitID, text); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		batch, err := f.tab.nextBatch(ctx, 0)
		if err != nil || len(batch) != n {
			b.Fatalf("read %d of %d pending changes: %v", len(batch), n, err)
		}
		read += time.Since(start)
		results := make([]*v1.ChangeResult, n)
		page := make([]*v1.CommittedChange, n)
		for i, c := range batch {
			page[i] = f.commitBy(f.device, syncer.TypeObservation, c.Record.Id, "visit_id", f.visitID, "at_ms", "1", "text", text, "author", "kim")
			results[i] = &v1.ChangeResult{DeviceSeq: c.DeviceSeq, Result: v1.Result_RESULT_APPLIED, ServerSeq: page[i].Seq}
		}
		start = time.Now()
		if r := f.settle(results...); r.Applied != n {
			b.Fatalf("settled %+v", r)
		}
		settle += time.Since(start)
		start = time.Now()
		f.apply(f.seq, page...)
		confirm += time.Since(start)
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
	if s := f.status(); s.Pending != 0 || s.Awaiting != 0 {
		b.Fatalf("status %+v after confirming every change", s)
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(read), "read-ns/change")
	b.ReportMetric(per(settle), "settle-ns/change")
	b.ReportMetric(per(confirm), "confirm-ns/change")
	b.ReportMetric(per(raw), "raw-ns/row")
	b.ReportMetric(float64(raw)/float64(read+settle+confirm), "ratio-vs-raw")
}
