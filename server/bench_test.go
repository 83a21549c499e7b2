package server

import (
	"bytes"
	"strings"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// plainSealer stores blobs as they are: the baseline that shows what sealing costs.
type plainSealer struct{}

func (plainSealer) Seal(p, _ []byte) ([]byte, error) { return bytes.Clone(p), nil }
func (plainSealer) Open(b, _ []byte) ([]byte, error) { return bytes.Clone(b), nil }

// newBenchFixture is the store fixture, sealing with the KEK envelope or (plain) not at all.
func newBenchFixture(b *testing.B, plain bool) *fixture {
	b.Helper()
	f := &fixture{t: b, dir: b.TempDir(), clock: &fakeClock{t: time.UnixMilli(1_800_000_000_000)}}
	f.store = MustOpenStore(b, f.dir, f.clock)
	if plain {
		f.store.sealer = plainSealer{}
	}
	return newFixtureOn(b, f)
}

// BenchmarkSealing: what encryption at rest costs the server: changes/s pushed (pushes of 500
// observations of ~300 bytes) and pulled (pages of up to 5,000) by a store that seals every blob
// in a KEK envelope, beside the same store storing them in plaintext, in the same run.
func BenchmarkSealing(b *testing.B) {
	const batch, batches = 500, 10
	text := strings.Repeat("Mor kommer til tiden og hilser på Ida. ", 8)
	sealed, plain := newBenchFixture(b, false), newBenchFixture(b, true)
	var pushT, pullT [2]time.Duration
	var seqs, cursors [2]int64
	for b.Loop() {
		for i, f := range []*fixture{sealed, plain} {
			start := time.Now()
			for range batches {
				changes := make([]*v1.Change, batch)
				for j := range changes {
					seqs[i]++
					changes[j] = f.observation(seqs[i], text)
				}
				must(f.store.Push(f.ctx, f.tablet, changes))
			}
			pushT[i] += time.Since(start)
			start = time.Now()
			n := 0
			for req := (&v1.PullRequest{Cursor: cursors[i], KnownCases: []string{f.caseID}}); ; {
				res := must(f.store.Pull(f.ctx, f.tablet, req))
				n += len(res.Changes)
				if !res.More {
					break
				}
				req.Cursor = res.NextCursor
			}
			cursors[i] = must(f.store.Head(f.ctx))
			pullT[i] += time.Since(start)
			if n < batch*batches {
				b.Fatalf("pulled %d changes", n)
			}
		}
	}
	pushed := float64(b.N * batch * batches)
	b.ReportMetric(pushed/pushT[0].Seconds(), "push-changes/s")
	b.ReportMetric(pushT[1].Seconds()/pushT[0].Seconds(), "ratio-push-vs-plain")
	b.ReportMetric(pullT[1].Seconds()/pullT[0].Seconds(), "ratio-pull-vs-plain")
}

// BenchmarkContentHash: what telling a retry from a reused seq costs a push: the keyed content
// hash of pushes of 500 observations of ~300 bytes, as a share of pushing them, in the same run.
func BenchmarkContentHash(b *testing.B) {
	const batch = 500
	text := strings.Repeat("Mor kommer til tiden og hilser på Ida. ", 8)
	f := newBenchFixture(b, false)
	key := bytes.Repeat([]byte{7}, 32)
	var pushT, hashT, receiptT time.Duration
	var seq int64
	for b.Loop() {
		changes := make([]*v1.Change, batch)
		for j := range changes {
			seq++
			changes[j] = f.observation(seq, text)
		}
		start := time.Now()
		hasher := newContentHasher(key)
		for _, c := range changes {
			must(hasher.hash(c))
		}
		hashT += time.Since(start)
		start = time.Now()
		rc := newReceipts(receiptKey(key))
		for _, c := range changes {
			must(rc.sum(f.tablet.DeviceID, c, seq, 1))
		}
		receiptT += time.Since(start)
		start = time.Now()
		must(f.store.Push(f.ctx, f.tablet, changes))
		pushT += time.Since(start)
	}
	b.ReportMetric(float64(hashT.Nanoseconds())/float64(b.N*batch), "hash-ns/change")
	b.ReportMetric(hashT.Seconds()/pushT.Seconds(), "ratio-hash-vs-push")
	// The receipt every taken change is answered with (receipts.go), which the push includes.
	b.ReportMetric(float64(receiptT.Nanoseconds())/float64(b.N*batch), "receipt-ns/change")
	b.ReportMetric(receiptT.Seconds()/pushT.Seconds(), "ratio-receipt-vs-push")
}
