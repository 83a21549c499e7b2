package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/pgtest"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a store with a caseworker, a consultant, a case with one supervised visit, and an
// enrolled tablet for the consultant.
type fixture struct {
	t        testing.TB
	ctx      context.Context
	dir      string
	clock    *fakeClock
	store    *Store
	caseID   string
	visitID  string
	reportID string
	items    map[string]string // checklist key -> record id
	tablet   Identity
}

// MustOpenStore opens the store of data directory dir with an injected clock: on SQLite in dir,
// or on the directory's PostgreSQL database when the run is against PostgreSQL (pgtest).
func MustOpenStore(tb testing.TB, dir string, clock *fakeClock) *Store {
	tb.Helper()
	s, err := openTestStore(tb, dir, clock.Now)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// openTestStore opens dir's store as MustOpenStore does, returning the error.
func openTestStore(tb testing.TB, dir string, now func() time.Time) (*Store, error) {
	return OpenStoreOn(dir, pgtest.DatabaseFor(tb, dir), now)
}

// tamper changes the database behind the store's back, as a person with write access to it
// could.
func (s *Store) tamper(tb testing.TB, query string, args ...any) {
	tb.Helper()
	if err := s.db.WriteTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(query, args...)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
}

// backupStore takes a backup of dir's store as an operator does: the SQLite store's online
// backup, or pg_dump of its PostgreSQL database.
func backupStore(tb testing.TB, s *Store, dir string) string {
	tb.Helper()
	backup := filepath.Join(tb.TempDir(), "backup")
	if address := pgtest.DatabaseFor(tb, dir); address != "" {
		mustDo(tb, pgtest.Dump(address, backup))
	} else {
		mustDo(tb, s.Backup(context.Background(), backup))
	}
	return backup
}

// restoreStore puts dir's store back to the backup, as an operator does with the server
// stopped: the SQLite file copied back (its WAL removed), or pg_restore into a new database.
func restoreStore(tb testing.TB, dir, backup string) {
	tb.Helper()
	if address := pgtest.DatabaseFor(tb, dir); address != "" {
		mustDo(tb, pgtest.Restore(address, backup))
		return
	}
	mustDo(tb, os.Rename(backup, filepath.Join(dir, DBFile)))
	for _, ext := range []string{"-wal", "-shm"} {
		os.Remove(filepath.Join(dir, DBFile+ext))
	}
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.UnixMilli(1_800_000_000_000)}}
	f.store = MustOpenStore(t, f.dir, f.clock)
	return newFixtureOn(t, f)
}

// newFixtureOn adds the fixture's people, case, visit and tablet to f's store.
func newFixtureOn(t testing.TB, f *fixture) *fixture {
	t.Helper()
	f.ctx = context.Background()
	_ = must(f.store.AddUser(f.ctx, "Sara Caseworker", []string{"caseworker"}))
	consultant := must(f.store.AddUser(f.ctx, "Kim Consultant", []string{"consultant"}))
	f.caseID = must(f.store.AddCase(f.ctx, NewCase{Children: []string{"MARKER-child Ida"}, Parents: []string{"MARKER-parent"}, Caseworker: "Sara Caseworker"}))
	start := f.clock.Now().Add(time.Hour)
	f.visitID = must(f.store.AddVisit(f.ctx, NewVisit{CaseID: f.caseID, Consultant: "Kim Consultant", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Place: "Rum 2"}))
	f.items = map[string]string{}
	rows, err := f.store.read.Query(`SELECT id, type, state FROM records WHERE visit_id = ?`, f.visitID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, typ string
		var blob []byte
		if err := rows.Scan(&id, &typ, &blob); err != nil {
			t.Fatal(err)
		}
		rec, err := records.Decode(f.store.sealer, id, blob)
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case syncer.TypeReport:
			f.reportID = id
		case syncer.TypeChecklistItem:
			f.items[syncer.Value(rec, "key")] = id
		}
	}
	f.tablet = f.enroll(consultant)
	return f
}

func (f *fixture) enroll(u User) Identity {
	f.t.Helper()
	code, _, err := f.store.NewEnrollmentCode(f.ctx, u.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	deviceID, _, err := f.store.Enroll(f.ctx, code, pub, "test tablet")
	if err != nil {
		f.t.Fatal(err)
	}
	return Identity{UserID: u.ID, DeviceID: deviceID, Roles: u.Roles}
}

// must returns v, failing the test (by panic, which the test runner reports with the stack)
// when err is not nil. It keeps setup code to one line per step.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (f *fixture) hlc() uint64 { return uint64(syncer.MakeHLC(f.clock.Now().UnixMilli(), 0)) }

func (f *fixture) section(seq int64, section, text string, baseRev int64) *v1.Change {
	return &v1.Change{DeviceSeq: seq, Op: v1.Op_OP_UPDATE, Hlc: f.hlc() + uint64(seq), SchemaVersion: syncer.SchemaVersion,
		Record: &v1.RecordRef{Type: syncer.TypeReport, Id: f.reportID, CaseId: f.caseID},
		Fields: []*v1.FieldEdit{{Name: section, Value: text, BaseRev: baseRev}}}
}

func (f *fixture) observation(seq int64, text string) *v1.Change {
	return &v1.Change{DeviceSeq: seq, Op: v1.Op_OP_CREATE, Hlc: f.hlc() + uint64(seq), SchemaVersion: syncer.SchemaVersion,
		Record: &v1.RecordRef{Type: syncer.TypeObservation, Id: syncer.NewID(), CaseId: f.caseID},
		Fields: []*v1.FieldEdit{{Name: "visit_id", Value: f.visitID}, {Name: "at_ms", Value: "1800000000000"}, {Name: "text", Value: text}}}
}

func (f *fixture) head() int64 {
	f.t.Helper()
	return must(f.store.Head(f.ctx))
}

func (f *fixture) digest() string {
	f.t.Helper()
	return must(f.store.CaseDigest(f.ctx, f.caseID))
}

func TestPushIsIdempotent(t *testing.T) {
	f := newFixture(t)
	batch := []*v1.Change{f.section(1, "opening", "Mor kom til tiden.", 0), f.observation(2, "Ida smiler."), f.section(3, "ending", "Farvel ved døren.", 0)}
	first := must(f.store.Push(f.ctx, f.tablet, batch))
	head, digest := f.head(), f.digest()
	// The response was lost: the tablet sends the same batch again, then again with one more.
	again := must(f.store.Push(f.ctx, f.tablet, batch))
	for i := range first {
		if !proto.Equal(first[i], again[i]) {
			t.Fatalf("retry result %d = %v, first was %v", i, again[i], first[i])
		}
	}
	if f.head() != head || f.digest() != digest {
		t.Fatal("a retried push changed the server's state")
	}
	more := must(f.store.Push(f.ctx, f.tablet, append(batch, f.section(4, "opening", "Mor kom for sent.", first[0].ServerSeq))))
	if more[3].Result != v1.Result_RESULT_APPLIED || f.head() != head+1 {
		t.Fatalf("the new change after retried ones: %v, head %d → %d", more[3], head, f.head())
	}
}

func TestPushRefusesBadInputAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	_ = must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.section(1, "opening", "ok", 0)}))
	head, digest := f.head(), f.digest()
	tooMany := make([]*v1.Change, syncer.MaxChangesPerPush+1)
	for i := range tooMany {
		tooMany[i] = f.observation(int64(i+2), "x")
	}
	tests := []struct {
		name    string
		changes []*v1.Change
		code    syncer.Code
	}{
		{"seq gap", []*v1.Change{f.section(3, "opening", "MARKER gap", 0)}, syncer.CodeFailedPrecondition},
		{"unknown type", []*v1.Change{func() *v1.Change { c := f.section(2, "opening", "MARKER", 0); c.Record.Type = "diary"; return c }()}, syncer.CodeInvalid},
		{"unknown field", []*v1.Change{f.section(2, "gossip", "MARKER", 0)}, syncer.CodeInvalid},
		{"malformed id", []*v1.Change{func() *v1.Change { c := f.section(2, "opening", "MARKER", 0); c.Record.Id = "1; DROP TABLE"; return c }()}, syncer.CodeInvalid},
		{"clock far ahead", []*v1.Change{func() *v1.Change {
			c := f.section(2, "opening", "MARKER", 0)
			c.Hlc = uint64(syncer.MakeHLC(f.clock.Now().Add(3*time.Hour).UnixMilli(), 0))
			return c
		}()}, syncer.CodeInvalid},
		{"a bad change after a good one", []*v1.Change{f.section(2, "opening", "MARKER good", 1), f.section(3, "gossip", "MARKER", 0)}, syncer.CodeInvalid},
		{"out of order", []*v1.Change{f.section(3, "opening", "MARKER", 0), f.section(2, "opening", "MARKER", 0)}, syncer.CodeInvalid},
		{"batch too large", tooMany, syncer.CodeResourceExhausted},
		{"field too long", []*v1.Change{f.section(2, "opening", strings.Repeat("MARKER", 20000), 0)}, syncer.CodeResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.Push(f.ctx, f.tablet, tt.changes)
			if got := syncer.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q, want %q (%v)", got, tt.code, err)
			}
			if strings.Contains(err.Error(), "MARKER") {
				t.Fatalf("error %q repeats what was written", err)
			}
			if f.head() != head || f.digest() != digest {
				t.Fatal("a refused push changed the server's state")
			}
		})
	}
}

func TestRejectedChangeDoesNotBlockLaterOnes(t *testing.T) {
	f := newFixture(t)
	otherCase := must(f.store.AddCase(f.ctx, NewCase{Children: []string{"B"}, Caseworker: "Sara Caseworker"}))
	outside := f.section(1, "opening", "x", 0)
	outside.Record.CaseId = otherCase
	results := must(f.store.Push(f.ctx, f.tablet, []*v1.Change{outside, f.observation(2, "efter"), f.section(3, "opening", "inde", 0)}))
	if results[0].Result != v1.Result_RESULT_REJECTED || results[0].Reason == "" {
		t.Fatalf("out-of-scope change: %v", results[0])
	}
	if results[1].Result != v1.Result_RESULT_APPLIED || results[2].Result != v1.Result_RESULT_APPLIED {
		t.Fatalf("changes after a rejected one: %v %v", results[1], results[2])
	}
	// The rejection is remembered: a retry hears the same reason.
	again := must(f.store.Push(f.ctx, f.tablet, []*v1.Change{outside}))
	if !proto.Equal(again[0], results[0]) {
		t.Fatalf("retried rejection %v, first %v", again[0], results[0])
	}
}

func TestPullPagesInCommitOrderAndResumes(t *testing.T) {
	f := newFixture(t)
	var batch []*v1.Change
	for i := int64(1); i <= 40; i++ {
		batch = append(batch, f.observation(i, strings.Repeat("o", 200)))
	}
	_ = must(f.store.Push(f.ctx, f.tablet, batch))
	all := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: 0, MaxChanges: int32(0), MaxBytes: 0}))
	if all.More || all.NextCursor != f.head() {
		t.Fatalf("unbounded pull: more=%v cursor=%d head=%d", all.More, all.NextCursor, f.head())
	}
	// 1 case + 1 child + 1 visit + 11 checklist items + 1 report + 40 observations.
	if len(all.Changes) != 55 {
		t.Fatalf("pulled %d changes, want 55", len(all.Changes))
	}
	for _, bound := range []struct {
		changes int
		bytes   int64
	}{{7, 0}, {0, 1500}, {1, 1}} {
		var got []*v1.CommittedChange
		cursor, mark, pages := int64(0), int64(0), 0
		var known []string
		for {
			p := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: cursor, CursorMark: mark, MaxChanges: int32(bound.changes), MaxBytes: bound.bytes, KnownCases: known}))
			known = append(known, p.CompleteCases...)
			// The position a page ends at is named by its log row's mark: the next pull is
			// refused as from a restored server when it is not.
			if want, _, err := markAt(f.ctx, f.store.read, p.NextCursor); err != nil || p.NextCursorMark != want {
				t.Fatalf("bounds %+v: page ends at %d with mark %d, the log's row has %d (%v)", bound, p.NextCursor, p.NextCursorMark, want, err)
			}
			mark = p.NextCursorMark
			if bound.changes > 0 && len(p.Changes) > bound.changes {
				t.Fatalf("page of %d changes, bound %d", len(p.Changes), bound.changes)
			}
			var size int
			for _, c := range p.Changes {
				size += proto.Size(c)
			}
			if bound.bytes > 0 && len(p.Changes) > 1 && int64(size) > bound.bytes {
				t.Fatalf("page of %d bytes, bound %d", size, bound.bytes)
			}
			got = append(got, p.Changes...)
			cursor, pages = p.NextCursor, pages+1
			if !p.More {
				break
			}
		}
		if len(got) != len(all.Changes) || pages < 2 {
			t.Fatalf("bounds %+v: %d changes in %d pages", bound, len(got), pages)
		}
		for i := range got {
			if !proto.Equal(got[i], all.Changes[i]) || (i > 0 && got[i].Seq <= got[i-1].Seq) {
				t.Fatalf("bounds %+v: change %d differs or is out of order", bound, i)
			}
		}
	}
	if _, err := f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: f.head() + 10, MaxChanges: int32(0), MaxBytes: 0}); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("a cursor beyond the head: %v", err)
	}
}

func TestPullIsScopedToTheUsersCases(t *testing.T) {
	f := newFixture(t)
	_ = must(f.store.AddCase(f.ctx, NewCase{Children: []string{"MARKER-other child"}, Caseworker: "Sara Caseworker"}))
	page := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: 0, MaxChanges: int32(0), MaxBytes: 0}))
	for _, c := range page.Changes {
		if c.Record.CaseId != f.caseID {
			t.Fatalf("the consultant pulled a record of case %s they are not assigned to", c.Record.CaseId)
		}
	}
}

func TestConcurrentSectionEditsKeepBothSides(t *testing.T) {
	f := newFixture(t)
	other := f.enroll(must(f.store.UserByName(f.ctx, "Kim Consultant")))
	base := must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.section(1, "interaction", "Mor og Ida leger.", 0)}))[0].ServerSeq
	a := must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.section(2, "interaction", "Mor og Ida leger med dukker.", base)}))[0]
	b := must(f.store.Push(f.ctx, other, []*v1.Change{f.section(1, "interaction", "Mor og Ida leger med biler.", base)}))[0]
	if a.Result != v1.Result_RESULT_APPLIED || b.Result != v1.Result_RESULT_CONFLICT {
		t.Fatalf("results %v / %v", a, b)
	}
	page := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: 0, MaxChanges: int32(0), MaxBytes: 0}))
	var found bool
	for _, c := range page.Changes {
		if c.Record.Type == syncer.TypeConflict && syncer.Value(c, "other_value") == "Mor og Ida leger med biler." && syncer.Value(c, "resolved") == "false" {
			found = true
		}
	}
	if !found {
		t.Fatal("the overlapping edit is not kept in a conflict record")
	}
}

// A case assigned after the tablet's first sync arrives whole, as a snapshot of its records, in
// pages; a case the tablet holds but may no longer see is named for purging.
func TestPullSnapshotsNewlyAssignedCasesAndPurgesOthers(t *testing.T) {
	f := newFixture(t)
	first := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{}))
	if len(first.CompleteCases) != 1 || first.CompleteCases[0] != f.caseID {
		t.Fatalf("a fresh tablet's complete cases: %v", first.CompleteCases)
	}
	// A second case with history from before Kim was assigned to it.
	_ = must(f.store.AddUser(f.ctx, "Lea", []string{"consultant"}))
	older := must(f.store.AddCase(f.ctx, NewCase{Children: []string{"B"}, Caseworker: "Sara Caseworker"}))
	start := f.clock.Now()
	_ = must(f.store.AddVisit(f.ctx, NewVisit{CaseID: older, Consultant: "Lea", Kind: "supported", Start: start, End: start.Add(time.Hour)}))
	_ = must(f.store.AddVisit(f.ctx, NewVisit{CaseID: older, Consultant: "Kim Consultant", Kind: "supported", Start: start.Add(48 * time.Hour), End: start.Add(49 * time.Hour)}))
	gone := syncer.NewID()

	held := map[string]*v1.CommittedChange{}
	known := []string{f.caseID, gone}
	req := &v1.PullRequest{Cursor: first.NextCursor, MaxChanges: 5, KnownCases: known}
	var purged []string
	for pages := 0; ; pages++ {
		p := must(f.store.Pull(f.ctx, f.tablet, req))
		if len(p.Snapshot)+len(p.Changes) > 5 {
			t.Fatalf("page of %d records, bound 5", len(p.Snapshot)+len(p.Changes))
		}
		for _, r := range append(p.Snapshot, p.Changes...) {
			if r.Record.CaseId == older {
				held[r.Record.Id] = syncer.ApplyCommitted(held[r.Record.Id], r)
			}
		}
		purged = append(purged, p.PurgeCases...)
		known = append(known, p.CompleteCases...)
		req = &v1.PullRequest{Cursor: p.NextCursor, MaxChanges: 5, KnownCases: known, SnapshotCase: p.SnapshotCase, SnapshotAfter: p.SnapshotAfter}
		if !p.More {
			break
		}
		if pages > 100 {
			t.Fatal("pull never finished")
		}
	}
	if !slices.Contains(purged, gone) || slices.Contains(purged, f.caseID) {
		t.Fatalf("purged %v", purged)
	}
	if !slices.Contains(known, older) {
		t.Fatal("the newly assigned case was never completed")
	}
	// Everything of the case is there, history before the assignment included.
	ids := slices.Sorted(maps.Keys(held))
	d := syncer.NewDigester()
	for _, id := range ids {
		d.Add(held[id])
	}
	if d.Sum() != must(f.store.CaseDigest(f.ctx, older)) {
		t.Fatalf("the snapshot and log give %d records that differ from the server's case", len(held))
	}
}

// TestAPullInOneStatementAnswersWhatTheTransactionDoes: quickPull, which answers nearly every
// pull on PostgreSQL, gives exactly what the transaction gives: for a tablet behind by a page and by more, one
// whose page ends on the byte bound, one up to date and one holding a case it may no longer
// see. A case new to the tablet is left to the transaction, which brings its snapshot.
func TestAPullInOneStatementAnswersWhatTheTransactionDoes(t *testing.T) {
	f := newFixture(t)
	if f.store.pg == nil {
		t.Skip("quickPull serves PostgreSQL only (SQLite answers every pull in a transaction); the PostgreSQL pass of make test runs it")
	}
	first := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{}))
	known := first.CompleteCases
	var batch []*v1.Change
	for i := int64(1); i <= 12; i++ {
		batch = append(batch, f.observation(i, strings.Repeat("o", 200)))
	}
	_ = must(f.store.Push(f.ctx, f.tablet, batch))
	other := must(f.store.AddCase(f.ctx, NewCase{Children: []string{"MARKER-child Noah"}, Parents: []string{"MARKER-parent"}, Caseworker: "Sara Caseworker"}))
	head := f.head()
	headMark, _, err := markAt(f.ctx, f.store.read, head)
	if err != nil {
		t.Fatal(err)
	}
	from := &v1.PullRequest{Cursor: first.NextCursor, CursorMark: first.NextCursorMark, KnownCases: known}
	with := func(change func(r *v1.PullRequest)) *v1.PullRequest {
		r := proto.Clone(from).(*v1.PullRequest)
		change(r)
		return r
	}
	for name, req := range map[string]*v1.PullRequest{
		"behind by 12":       from,
		"behind by a page":   with(func(r *v1.PullRequest) { r.MaxChanges = 5 }),
		"the byte bound":     with(func(r *v1.PullRequest) { r.MaxBytes = 1500 }),
		"up to date":         with(func(r *v1.PullRequest) { r.Cursor, r.CursorMark = head, headMark }),
		"a case to purge":    with(func(r *v1.PullRequest) { r.KnownCases = append(r.KnownCases, other) }),
		"a case new to it":   with(func(r *v1.PullRequest) { r.KnownCases = nil }),
		"a restored server":  with(func(r *v1.PullRequest) { r.CursorMark++ }),
		"past the log's end": with(func(r *v1.PullRequest) { r.Cursor = head + 5 }),
	} {
		quick := &v1.PullResponse{}
		done, quickErr := f.store.quickPull(f.ctx, f.tablet, req, quick, pageFor(req))
		inTx := &v1.PullResponse{}
		txErr := f.store.pullInTx(f.ctx, f.tablet, req, inTx, pageFor(req))
		switch {
		case name == "a case new to it":
			if done || quickErr != nil || len(inTx.Snapshot) == 0 {
				t.Errorf("%s: quickPull answered (%v, %v); the transaction's snapshot holds %d records", name, done, quickErr, len(inTx.Snapshot))
			}
		case txErr != nil:
			if syncer.ErrorCode(quickErr) != syncer.ErrorCode(txErr) || done {
				t.Errorf("%s: quickPull says %v, the transaction %v", name, quickErr, txErr)
			}
		case quickErr != nil || !done:
			t.Errorf("%s: quickPull left it (%v, %v)", name, done, quickErr)
		case !proto.Equal(quick, inTx):
			t.Errorf("%s: quickPull answered %d changes to %d (mark %d, more %v, purge %v), the transaction %d to %d (mark %d, more %v, purge %v)", name,
				len(quick.Changes), quick.NextCursor, quick.NextCursorMark, quick.More, quick.PurgeCases,
				len(inTx.Changes), inTx.NextCursor, inTx.NextCursorMark, inTx.More, inTx.PurgeCases)
		case name != "up to date" && len(quick.Changes) == 0:
			t.Errorf("%s: no changes", name)
		}
	}
}
