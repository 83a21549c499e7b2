package clientlib

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// marker is planted in what a person writes; it must never appear in an error.
const marker = "MARKER-7f3a-personligt"

// testClock is the injected clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is an enrolled tablet holding one case with one visit, its 11 checklist items and its
// report, loaded the way a pull loads them.
type fixture struct {
	t      testing.TB
	home   string
	clock  *testClock
	opts   Options
	key    ed25519.PrivateKey
	tab    *Tablet
	device string

	caseID, visitID, reportID string
	items                     map[string]string // checklist key → record id
	seq                       int64             // the newest server commit fed to the tablet
}

const visitStartMs = 1_763_632_800_000 // 2025-11-20 10:00 UTC

// testPIN opens test tablets; testKDF keeps Argon2id cheap in tests (the default costs 0.1 s and
// 64 MiB per unlock, on purpose).
const testPIN = "2468"

var testKDF = KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

// newFixture makes an enrolled tablet without a server: the home, the meta rows and the device
// key are written directly, as enrollment would write them.
func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	return newFixtureAt(t, "http://127.0.0.1:1", newTestClock(), opts)
}

// newFixtureAt makes the fixture for a server at serverURL, with the tablet's clock.
func newFixtureAt(t testing.TB, serverURL string, clock *testClock, opts Options) *fixture {
	t.Helper()
	return newFixtureSealing(t, serverURL, clock, opts, nil)
}

// newFixtureSealing makes the fixture; a non-nil sealer replaces the data key for everything the
// store holds (benchmarks compare sealing with storing plaintext).
func newFixtureSealing(t testing.TB, serverURL string, clock *testClock, opts Options, sealer seal.Sealer) *fixture {
	t.Helper()
	f := &fixture{t: t, home: t.TempDir(), clock: clock, items: map[string]string{}}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	if opts.PIN == "" {
		opts.PIN = testPIN
	}
	if opts.KDF == (KDFParams{}) {
		opts.KDF = testKDF
	}
	f.opts = opts
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.key = priv
	f.device = syncer.NewID()
	s, dataKey, err := createHome(context.Background(), f.home, serverURL, priv,
		&v1.EnrollResponse{DeviceId: f.device, UserId: syncer.NewID(), UserName: "Kim"}, 0, opts.forHome(f.home))
	if err != nil {
		t.Fatal(err)
	}
	if f.tab, err = load(f.home, s, opts, dataKey); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.tab.Close() })
	if sealer != nil {
		f.tab.store.keys = sealer
	}

	f.caseID, f.visitID, f.reportID = syncer.NewID(), syncer.NewID(), syncer.NewID()
	page := []*v1.CommittedChange{
		f.commit(syncer.TypeCase, f.caseID, "children", "Ida", "parents", "Mette", "caseworker", "Sara"),
		f.commit(syncer.TypeVisit, f.visitID, "consultant", "Kim", "kind", "supervised",
			"start_ms", strconv.FormatInt(visitStartMs, 10), "end_ms", strconv.FormatInt(visitStartMs+2*3600_000, 10), "place", "Rum 2"),
	}
	// Items arrive in reverse order, so the view's ordering is what puts them right.
	for _, it := range slices.Backward(syncer.DefaultChecklist) {
		id := syncer.NewID()
		f.items[it.Key] = id
		page = append(page, f.commit(syncer.TypeChecklistItem, id, "visit_id", f.visitID, "phase", it.Phase,
			"key", it.Key, "label", it.Label, "checked", "false"))
	}
	page = append(page, f.commit(syncer.TypeReport, f.reportID, "visit_id", f.visitID, "interaction", "Mor læser en bog."))
	f.pull(page...)
	return f
}

// commit makes the next server commit of a record: the fields given as name, value pairs, set by
// the server.
func (f *fixture) commit(typ, id string, nameValues ...string) *v1.CommittedChange {
	return f.commitBy("server", typ, id, nameValues...)
}

func (f *fixture) commitBy(device, typ, id string, nameValues ...string) *v1.CommittedChange {
	f.seq++
	ch := &v1.CommittedChange{Seq: f.seq, Record: &v1.RecordRef{Type: typ, Id: id, CaseId: f.caseID}}
	for i := 0; i+1 < len(nameValues); i += 2 {
		ch.Fields = append(ch.Fields, &v1.Field{Name: nameValues[i], Value: nameValues[i+1], Rev: f.seq,
			Hlc: uint64(syncer.MakeHLC(f.clock.Now().UnixMilli(), 0)), DeviceId: device})
	}
	slices.SortFunc(ch.Fields, func(a, b *v1.Field) int { return strings.Compare(a.Name, b.Name) })
	return ch
}

// pull applies a page of changes made with commit, up to the newest commit.
func (f *fixture) pull(changes ...*v1.CommittedChange) {
	f.t.Helper()
	f.apply(f.seq, changes...)
}

// apply applies one pulled page through the function the pull uses.
func (f *fixture) apply(nextCursor int64, changes ...*v1.CommittedChange) {
	f.t.Helper()
	// The tablet holds the fixture's case in full, as a first pull (CompleteCases) would say.
	err := f.tab.store.db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		return f.tab.applyPage(context.Background(), tx, &v1.PullResponse{Changes: changes, NextCursor: nextCursor}, []string{f.caseID})
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// settle records hand-made push results through the function the push uses.
func (f *fixture) settle(results ...*v1.ChangeResult) SyncResult {
	f.t.Helper()
	var r SyncResult
	err := f.tab.store.db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		r, err = f.tab.settle(context.Background(), tx, results)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// reopen closes the tablet and opens its home again, as after the app was killed.
func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.tab.Close(); err != nil {
		f.t.Fatal(err)
	}
	var err error
	if f.tab, err = Open(f.home, f.opts); err != nil {
		f.t.Fatal(err)
	}
}

// outbox returns every outbox entry in seq order.
func (f *fixture) outbox() []outboxEntry {
	f.t.Helper()
	entries, err := f.tab.store.readOutbox(context.Background(), f.tab.store.db.Read, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return entries
}

func (f *fixture) meta(key string) int64 {
	f.t.Helper()
	n, err := metaInt(context.Background(), f.tab.store.db.Read, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) record(id string) *v1.CommittedChange {
	f.t.Helper()
	rec, err := records.Load(context.Background(), f.tab.store.db.Read, f.tab.store.keys, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// visit returns the fixture's visit as the tablet shows it.
func (f *fixture) visit() Visit {
	f.t.Helper()
	visits, err := f.tab.Visits(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, v := range visits {
		if v.ID == f.visitID {
			return v
		}
	}
	f.t.Fatalf("visit %s not shown", f.visitID)
	return Visit{}
}

func (f *fixture) section(key string) string {
	f.t.Helper()
	for _, s := range f.visit().Report {
		if s.Key == key {
			return s.Text
		}
	}
	f.t.Fatalf("no section %s", key)
	return ""
}

func (f *fixture) checked(key string) bool {
	f.t.Helper()
	for _, it := range f.visit().Checklist {
		if it.Key == key {
			return it.Checked
		}
	}
	f.t.Fatalf("no checklist item %s", key)
	return false
}

func (f *fixture) status() Status {
	f.t.Helper()
	s, err := f.tab.Status(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err is a *syncer.Error with the code.
func wantCode(t *testing.T, err error, code syncer.Code) *syncer.Error {
	t.Helper()
	var e *syncer.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *syncer.Error", err, err)
	}
	if e.Code != code {
		t.Fatalf("error code %s (%q), want %s", e.Code, e.Message, code)
	}
	return e
}
