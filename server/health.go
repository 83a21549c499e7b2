package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/samvaer/sync/internal/pgdb"
	"github.com/samvaer/sync/internal/sqlitedb"
	"github.com/samvaer/sync/syncer"
)

// A full disk. Every write transaction's outcome passes through Store.writeDone: a write that
// did not fit (SQLITE_FULL, ENOSPC) is rolled back whole — nothing acknowledged is touched, and
// nothing is acknowledged that was not stored — and the caller hears errDiskFull, a sentence a
// tablet shows ("your changes are kept"). Until there is room again, health checks answer
// NOT_SERVING and samvaer_store_writes_failing is 1.

// errDiskFull is what every door answers while the disk is full. ResourceExhausted is gRPC's
// code for "the entire file system is out of space"; the tablet keeps the changes it tried to
// push and sends them at a later sync.
var errDiskFull = syncer.Errorf(syncer.CodeResourceExhausted,
	"The server cannot store changes right now (its disk is full); your changes are kept and will be sent at the next sync. What the server stored before is safe; tell its operator.")

var (
	storeWriteFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "samvaer_store_write_failures_total", Help: "Write transactions that failed because the disk is full.",
	})
	storeWritesFailing = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "samvaer_store_writes_failing", Help: "1 while writes fail because the disk is full (since the last write that did not fit), else 0.",
	})
)

func init() { metrics.MustRegister(storeWriteFailures, storeWritesFailing) }

// IsDiskFull reports whether err is a write refused because the disk is full, for a door that
// words it its own way (a page has no outbox that keeps what was sent).
func IsDiskFull(err error) bool { return errors.Is(err, errDiskFull) }

// writeHealth remembers whether writes fail for a full disk. It is set by a write that did not
// fit and cleared only by a probe that writes probeBytes to a new file in the data directory:
// a small write can still fit in space SQLite already holds (its WAL) while the disk is full, so
// a successful small write alone does not prove the disk has room.
type writeHealth struct {
	dir     string
	mu      sync.Mutex
	failing bool
	probed  time.Time // the last probe: at most one a second
}

// probeBytes is what the probe writes: about a push of a hundred long observations.
const probeBytes = 1 << 20

func (h *writeHealth) fail() {
	h.mu.Lock()
	h.failing = true
	h.mu.Unlock()
	storeWritesFailing.Set(1)
}

// failingNow reports whether writes fail, probing first when they did and a probe is due.
func (h *writeHealth) failingNow() bool {
	h.mu.Lock()
	if !h.failing || time.Since(h.probed) < time.Second {
		defer h.mu.Unlock()
		return h.failing
	}
	h.probed = time.Now()
	h.mu.Unlock()
	if !h.probe() {
		return true
	}
	h.mu.Lock()
	h.failing = false
	h.mu.Unlock()
	storeWritesFailing.Set(0)
	return false
}

// probe writes probeBytes to a new file in the data directory, syncs it and removes it.
func (h *writeHealth) probe() bool {
	path := filepath.Join(h.dir, ".write-probe")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false
	}
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	os.Remove(path)
	return err == nil
}

// writeDone sees the outcome of every write transaction (sqlitedb.Options.WriteDone).
func (s *Store) writeDone(err error) error {
	switch {
	case err == nil:
		s.writes.failingNow() // a write went through: perhaps there is room again
	case sqlitedb.IsFull(err), pgdb.IsFull(err):
		storeWriteFailures.Inc()
		s.writes.fail()
		return fmt.Errorf("%w (%w)", errDiskFull, err)
	}
	return err
}

// WritesFailing reports whether writes fail because the disk is full: from a write that did
// not fit until probeBytes can be written in the data directory again (checked at most once a
// second), so a server whose disk was freed reports healthy again without a restart.
func (s *Store) WritesFailing() bool { return s.writes.failingNow() }

// healthChecker answers grpchealth checks: the server's services are SERVING while the store
// can write, NOT_SERVING while writes fail for a full disk (reads and sign-in still work then,
// but nothing new can be stored).
type healthChecker struct {
	static *grpchealth.StaticChecker
	store  *Store
}

func (c healthChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	res, err := c.static.Check(ctx, req)
	if err == nil && res.Status == grpchealth.StatusServing && c.store.WritesFailing() {
		res.Status = grpchealth.StatusNotServing
	}
	return res, err
}
