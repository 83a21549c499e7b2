package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	_ "modernc.org/sqlite"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// Benchmarks report each figure beside a baseline measured in the same run, as a ratio: the
// machines are shared and noisy, ratios much less so. `make bench` runs them.

const benchText = "Mor kommer til tiden og hilser på Ida, der først holder sig tæt til plejemor. Efter et par minutter går Ida hen til mor og viser hende sin nye tegning. Mor roser tegningen og spørger ind til farverne. De sætter sig ved bordet og tegner sammen; mor følger Idas initiativ og venter, når Ida tøver. Ved slutningen..."

// rawInsertRate is the baseline: rows of the same size inserted into SQLite in one transaction,
// with the same pragmas the stores use.
func rawInsertRate(b *testing.B, rows int) float64 {
	b.Helper()
	dsn := "file:" + filepath.Join(b.TempDir(), "raw.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE raw (id TEXT PRIMARY KEY, case_id TEXT, body BLOB)`); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO raw (id, case_id, body) VALUES (?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		if _, err := stmt.Exec(syncer.NewID(), "case", []byte(benchText)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return float64(rows) / time.Since(start).Seconds()
}

// rawTabletInsertRate is the second baseline of the initial sync: the rows the tablet stores for
// pulled observations — their states sealed as the tablet seals them (records.Encode under a data
// key), made before the clock starts — inserted in one transaction into a table of the tablet's
// records schema with its three indexes (clientlib/migrations/0001_init.sql), with the tablet's
// pragmas. rawInsertRate inserts the plain text into a table with only a primary key: about half
// the bytes and a quarter of the index work of what any tablet must write for the same records.
func rawTabletInsertRate(b *testing.B, rows int) float64 {
	b.Helper()
	key, err := seal.NewKey(make([]byte, seal.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	caseID, visitID := syncer.NewID(), syncer.NewID()
	type row struct {
		id    string
		state []byte
	}
	all := make([]row, rows)
	for i := range all {
		id := syncer.NewID()
		rec := &v1.CommittedChange{Seq: int64(i + 1), Record: &v1.RecordRef{Type: syncer.TypeObservation, Id: id, CaseId: caseID}, Fields: []*v1.Field{
			{Name: "visit_id", Value: visitID, Rev: int64(i + 1), DeviceId: "device"},
			{Name: "at_ms", Value: "1800000000000", Rev: int64(i + 1), DeviceId: "device"},
			{Name: "text", Value: benchText, Rev: int64(i + 1), DeviceId: "device"},
			{Name: "author", Value: syncer.NewID(), Rev: int64(i + 1), DeviceId: "device"}}}
		state, err := records.Encode(key, rec)
		if err != nil {
			b.Fatal(err)
		}
		all[i] = row{id, state}
	}
	dsn := "file:" + filepath.Join(b.TempDir(), "raw.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=secure_delete(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, ddl := range []string{
		`CREATE TABLE records (id TEXT PRIMARY KEY, type TEXT NOT NULL, case_id TEXT NOT NULL, visit_id TEXT NOT NULL DEFAULT '', state BLOB NOT NULL)`,
		`CREATE INDEX records_case ON records(case_id, id)`,
		`CREATE INDEX records_visit ON records(visit_id) WHERE visit_id <> ''`,
		`CREATE INDEX records_type ON records(type)`,
	} {
		if _, err := db.Exec(ddl); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO records (id, type, case_id, visit_id, state) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range all {
		if _, err := stmt.Exec(r.id, syncer.TypeObservation, caseID, visitID, r.state); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return float64(rows) / time.Since(start).Seconds()
}

// rawClient talks to the live server as a tablet, without clientlib: for pushing load.
type rawClient struct {
	sync samvaerv1connect.SyncServiceClient
	id   server.Identity
	tok  string
	seq  int64
}

func newRawClient(b testing.TB, w *world, user string) *rawClient {
	b.Helper()
	tb := enrollTablet(b, w.srv, user)
	tok, err := tb.AccessToken(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	u, err := w.srv.Store().UserByName(context.Background(), user)
	if err != nil {
		b.Fatal(err)
	}
	// The store's Push checks the pusher's roles, as the server's authentication fills them in.
	return &rawClient{sync: samvaerv1connect.NewSyncServiceClient(tb.opts.HTTPClient, w.srv.URL()),
		id: server.Identity{UserID: tb.UserID(), DeviceID: tb.DeviceID(), Roles: u.Roles}, tok: tok}
}

// observations makes n new observations of ~300 bytes, numbered on from the last.
func (c *rawClient) observations(w *world, n int) []*v1.Change {
	changes := make([]*v1.Change, n)
	now := uint64(syncer.MakeHLC(time.Now().UnixMilli(), 0))
	for i := range changes {
		c.seq++
		changes[i] = &v1.Change{DeviceSeq: c.seq, Op: v1.Op_OP_CREATE, Hlc: now + uint64(i), SchemaVersion: syncer.SchemaVersion,
			Record: &v1.RecordRef{Type: syncer.TypeObservation, Id: syncer.NewID(), CaseId: w.caseID},
			Fields: []*v1.FieldEdit{{Name: "visit_id", Value: w.visitID}, {Name: "at_ms", Value: "1800000000000"}, {Name: "text", Value: benchText}}}
	}
	return changes
}

func checkApplied(b testing.TB, results []*v1.ChangeResult) {
	for _, r := range results {
		if r.Result != v1.Result_RESULT_APPLIED {
			b.Fatalf("push result %v", r)
		}
	}
}

// push sends n observations over the wire.
func (c *rawClient) push(b testing.TB, w *world, n int) {
	b.Helper()
	req := connect.NewRequest(&v1.PushRequest{Changes: c.observations(w, n)})
	req.Header().Set("Authorization", "Bearer "+c.tok)
	res, err := c.sync.Push(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	checkApplied(b, res.Msg.Results)
}

// BenchmarkPush: changes/s in pushes of 500 observations of ~300 bytes, beside raw SQLite inserts
// of the same rows in one transaction: applied by the store (validation, merge, change log,
// record state, one transaction per push), and end to end over loopback (plus Connect, protobuf
// and HTTP on both sides, client and server sharing the machine's two cores).
func BenchmarkPush(b *testing.B) {
	const batch, batches = 500, 20
	w := newWorld(b, "Kim")
	c := newRawClient(b, w, "Kim")
	c.push(b, w, batch) // warm up connections and caches
	var raw, multi, store, wire float64
	address := databaseFor(b, w.srv.dir) // the baseline is raw inserts into the same kind of store
	for i := 0; i < b.N; i++ {
		if address != "" {
			raw += rawPostgresInsertRate(b, address, batch*batches)
			multi += rawPostgresMultiInsertRate(b, address, batch*batches)
		} else {
			raw += rawInsertRate(b, batch*batches)
		}
		pushes := make([][]*v1.Change, batches)
		for j := range pushes {
			pushes[j] = c.observations(w, batch)
		}
		start := time.Now()
		for _, p := range pushes {
			results, err := w.srv.Store().Push(context.Background(), c.id, p)
			if err != nil {
				b.Fatal(err)
			}
			checkApplied(b, results)
		}
		store += float64(batch*batches) / time.Since(start).Seconds()
		start = time.Now()
		for j := 0; j < batches; j++ {
			c.push(b, w, batch)
		}
		wire += float64(batch*batches) / time.Since(start).Seconds()
	}
	n := float64(b.N)
	b.ReportMetric(raw/n, "raw-rows/s")
	b.ReportMetric(store/n, "store-changes/s")
	b.ReportMetric(wire/n, "wire-changes/s")
	b.ReportMetric(store/raw, "ratio-store-vs-raw")
	b.ReportMetric(wire/raw, "ratio-wire-vs-raw")
	if multi > 0 {
		// On PostgreSQL, also against multi-row INSERTs of the same rows (COPY is raw).
		b.ReportMetric(multi/n, "multi-insert-rows/s")
		b.ReportMetric(store/multi, "ratio-store-vs-multi-insert")
	}
}

// BenchmarkSyncPush: a tablet's Sync sending 10,000 observations written offline (reading and
// unsealing the outbox, pushes of 500, settling the results, and the pull that brings their
// commits back and confirms them), beside the same number of observations of the same size
// pushed straight through the Connect client in pushes of 500, in the same run and to the same
// server.
func BenchmarkSyncPush(b *testing.B) {
	const n, batch = 10_000, 500
	ctx := context.Background()
	w := newWorld(b, "Kim")
	c := newRawClient(b, w, "Kim")
	c.push(b, w, batch) // warm up connections and caches
	tb := enrollTablet(b, w.srv, "Kim")
	var syncRate, wireRate, bestSync, bestWire float64
	var syncCPU, wireCPU time.Duration
	for b.Loop() {
		pushes := make([][]*v1.Change, n/batch)
		for j := range pushes {
			pushes[j] = c.observations(w, batch)
		}
		start := time.Now()
		c0 := cpuTime()
		for _, p := range pushes {
			req := connect.NewRequest(&v1.PushRequest{Changes: p})
			req.Header().Set("Authorization", "Bearer "+c.tok)
			res, err := c.sync.Push(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			checkApplied(b, res.Msg.Results)
		}
		rate := n / time.Since(start).Seconds()
		wireRate, bestWire = wireRate+rate, max(bestWire, rate)
		wireCPU += cpuTime() - c0
		// The tablet takes the raw client's changes first, so its timed sync has only its own.
		if _, err := tb.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < n; j++ {
			if _, err := tb.Observe(ctx, w.visitID, benchText); err != nil {
				b.Fatal(err)
			}
		}
		start = time.Now()
		c0 = cpuTime()
		r, err := tb.Sync(ctx)
		elapsed := time.Since(start)
		syncCPU += cpuTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		if r.Pushed != n || r.Applied != n || r.Pulled != n {
			b.Fatalf("sync pushed %d (applied %d) and pulled %d, want %d each", r.Pushed, r.Applied, r.Pulled, n)
		}
		if st, err := tb.Status(ctx); err != nil {
			b.Fatal(err)
		} else if st.Pending != 0 || st.Awaiting != 0 {
			b.Fatalf("%d changes still pending and %d unconfirmed after the sync", st.Pending, st.Awaiting)
		}
		rate = n / elapsed.Seconds()
		syncRate, bestSync = syncRate+rate, max(bestSync, rate)
	}
	k := float64(b.N)
	b.ReportMetric(syncRate/k, "sync-changes/s")
	b.ReportMetric(wireRate/k, "wire-changes/s")
	b.ReportMetric(syncRate/wireRate, "ratio-sync-vs-wire")
	// Other work on a shared machine only ever slows a round down, so the best rounds of each
	// are the steadier comparison; CPU time (server and tablet share the process) says what
	// the tablet's side adds whatever the load.
	b.ReportMetric(bestSync/bestWire, "ratio-best-sync-vs-wire")
	b.ReportMetric(float64(wireCPU)/float64(syncCPU), "ratio-cpu-wire-vs-sync")
}

// BenchmarkInitialSync: a fresh tablet pulls 100,000 records end to end over loopback; records/s
// against raw SQLite inserts of as many rows, and the process's peak heap while it syncs beside
// the same for a server holding 20,000 records (pages are streamed, so the peak must not grow
// with the record count).
func BenchmarkInitialSync(b *testing.B) {
	const records, fewer = 100_000, 20_000
	load := func(n int) *world {
		w := newWorld(b, "Kim")
		c := newRawClient(b, w, "Kim")
		for i := 0; i < n; i += 1000 {
			c.push(b, w, 1000)
		}
		return w
	}
	big, small := load(records), load(fewer)
	var rate, raw, rawTablet float64
	var syncCPU, rawCPU time.Duration
	var peak, peakFewer uint64
	// The setup above runs once: b.Loop calls the function once, not once per round count.
	for b.Loop() {
		c0 := cpuTime()
		raw += rawInsertRate(b, records)
		rawCPU += cpuTime() - c0
		rawTablet += rawTabletInsertRate(b, records)
		c0 = cpuTime()
		r, heap := initialSync(b, big)
		syncCPU += cpuTime() - c0
		if r.Pulled < records {
			b.Fatalf("pulled %d records, want at least %d", r.Pulled, records)
		}
		rate += float64(r.Pulled) / r.elapsed.Seconds()
		peak = max(peak, heap)
		r, heap = initialSync(b, small)
		if r.Pulled < fewer {
			b.Fatalf("pulled %d records, want at least %d", r.Pulled, fewer)
		}
		peakFewer = max(peakFewer, heap)
	}
	b.ReportMetric(rate/float64(b.N), "records/s")
	b.ReportMetric(raw/float64(b.N), "raw-rows/s")
	b.ReportMetric(rate/raw, "ratio-vs-raw")
	b.ReportMetric(rawTablet/float64(b.N), "raw-tablet-rows/s")
	b.ReportMetric(rate/rawTablet, "ratio-vs-raw-tablet-rows")
	// CPU time (server and tablet share the process) is what other work on a shared machine
	// disturbs least; on a loaded machine the two cores' overlap is not there to be had.
	b.ReportMetric(float64(rawCPU)/float64(syncCPU), "ratio-cpu-raw-vs-sync")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakFewer)/(1<<20), "peak-heap-20k-MiB")
	b.ReportMetric(float64(peak)/float64(peakFewer), "ratio-peak-heap-100k-vs-20k")
}

type syncTimed struct {
	clientlib.SyncResult
	elapsed time.Duration
}

// initialSync enrolls a fresh tablet and syncs it once, returning what it pulled, how long it
// took and the process's peak heap above what it was before, sampled every 10 ms.
func initialSync(b *testing.B, w *world) (syncTimed, uint64) {
	tb := enrollTablet(b, w.srv, "Kim")
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	var maxHeap atomic.Uint64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > maxHeap.Load() {
				maxHeap.Store(m.HeapInuse)
			}
		}
	}()
	start := time.Now()
	r, err := tb.Sync(context.Background())
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	if h := maxHeap.Load(); h > base.HeapInuse {
		peak = h - base.HeapInuse
	}
	return syncTimed{r, elapsed}, peak
}

// BenchmarkNoopSync: a sync with nothing to do on a server holding 1,000,000 changes, against the
// same on an empty server, measured in the same run.
func BenchmarkNoopSync(b *testing.B) {
	noop := func(w *world) time.Duration {
		tb := enrollTablet(b, w.srv, "Kim")
		if _, err := tb.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		const rounds = 50
		start := time.Now()
		for i := 0; i < rounds; i++ {
			if _, err := tb.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / rounds
	}
	empty := newWorld(b, "Kim")
	full := newWorld(b, "Kim")
	// The million changes belong to another consultant's cases, as on a real server where a
	// tablet sees a small part of the whole.
	if _, err := full.srv.Store().AddUser(context.Background(), "Other", []string{"consultant"}); err != nil {
		b.Fatal(err)
	}
	otherCase, err := full.srv.Store().AddCase(context.Background(), server.NewCase{Children: []string{"X"}, Caseworker: "Sara"})
	if err != nil {
		b.Fatal(err)
	}
	otherVisit, err := full.srv.Store().AddVisit(context.Background(), server.NewVisit{CaseID: otherCase, Consultant: "Other", Kind: "supported", Start: time.Now(), End: time.Now().Add(time.Hour), Place: "x"})
	if err != nil {
		b.Fatal(err)
	}
	otherWorld := &world{srv: full.srv, caseID: otherCase, visitID: otherVisit}
	loader := newRawClient(b, otherWorld, "Other")
	for n := 0; n < 1_000_000; n += 1000 {
		if _, err := full.srv.Store().Push(context.Background(), loader.id, loader.observations(otherWorld, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	var onFull, onEmpty time.Duration
	// The million changes above are built once: b.Loop calls the function once.
	for b.Loop() {
		onEmpty += noop(empty)
		onFull += noop(full)
	}
	b.ReportMetric(float64(onEmpty.Microseconds())/float64(b.N), "empty-µs/sync")
	b.ReportMetric(float64(onFull.Microseconds())/float64(b.N), "1M-µs/sync")
	b.ReportMetric(float64(onFull)/float64(onEmpty), "ratio-1M-vs-empty")
}

// cpuTime is the CPU time the process (server and tablet together) has used.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
