package e2e

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"pgregory.net/rapid"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/pgtest"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// TestMain lets RAPID_CHECKS set the number of property test cases (make test: a moderate
// number; make test-long: many more) and RAPID_SEED the seed they are drawn from, and runs this binary as a server or tablet process when a
// test started it in that role (procs_test.go).
func TestMain(m *testing.M) {
	if code, ran := runHelper(); ran {
		os.Exit(code)
	}
	flag.Parse()
	for env, name := range map[string]string{"RAPID_CHECKS": "rapid.checks", "RAPID_SEED": "rapid.seed"} {
		if v := os.Getenv(env); v != "" {
			if err := flag.Set(name, v); err != nil {
				fmt.Fprintln(os.Stderr, env+":", err)
				os.Exit(2)
			}
		}
	}
	os.Exit(m.Run())
}

// convPage is the page size of every pull and push in the convergence test: small, so a pull of
// even one case splits into pages and a kill lands between them.
const convPage = 3

var (
	convConsultants = []string{"Kim", "Ane"}
	convSections    = []string{"interaction", "assessment"}
)

// TestConvergenceProperty drives random schedules of real faults over a server process, four
// tablet processes (two of Kim's, one of Ane's, one of Sara's, the caseworker) and two or three
// cases, then lets every tablet
// sync until quiet and checks what must hold. See checkConvergence for the exact expectations.
//
// Faults are real: the server is killed with SIGKILL at random moments (while tablets push and
// pull concurrently, or idle) and restarted on the same data directory; a tablet process is
// killed with SIGKILL mid-sync (mid-push or between pulled pages; pages hold 3 changes) or between
// a local write and its push, and reopened from its home; responses are lost (the server did the
// work, the tablet never hears); stale pushes arrive again late. Meanwhile an admin assigns and
// unassigns consultants (snapshots and purges on the tablets), plans visits and cancels them
// (what was written for a cancelled visit, before or after, is kept). Edits insert, delete and rewrite words of report sections, tick checklist items and note
// observations, on the same fields from several tablets.
func TestConvergenceProperty(t *testing.T) {
	if testing.Short() {
		t.Skip("property test")
	}
	var stats convStats
	defer func() { t.Logf("over all cases: %s", &stats) }()
	rapid.Check(t, func(rt *rapid.T) {
		// Each case closes its processes when it ends, not when the whole test does.
		ct := &caseScope{TB: t}
		defer ct.close()
		w := newConvWorld(ct, rt)
		w.quiesce(rt) // every tablet starts with its cases
		steps := rapid.IntRange(8, 24).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			w.step(rt)
		}
		w.quiesce(rt)
		w.check(rt)
		stats.add(w)
	})
}

// convStats counts what the cases exercised, so a reader of the test's log sees the faults and
// outcomes were not vacuous.
type convStats struct {
	mu                                                                                 sync.Mutex
	cases, serverKills, tabletKills, scopeMoves, refused, homeRestores, serverRestores int
	cancelledWrites, escrowed                                                          int
	results                                                                            map[v1.Result]int
}

func (s *convStats) add(w *convWorld) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.results == nil {
		s.results = map[v1.Result]int{}
	}
	s.cases++
	s.serverKills += w.serverKills
	s.tabletKills += w.tabletKills
	s.scopeMoves += w.scopeMoves
	s.refused += w.refused
	s.homeRestores += w.homeRestores
	s.serverRestores += w.serverRestores
	s.escrowed += w.escrowed
	for _, e := range w.ledger {
		s.results[e.result]++
		if w.cancelled[e.visitID] {
			s.cancelledWrites++
		}
	}
}

func (s *convStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d cases, %d server kills, %d tablet kills, %d admin scope changes, %d tablets restored from an older home, %d servers from an older backup; %d writes refused on the tablet; %d writes for visits that ended cancelled; %d escrowed changes sent back to a restored server; writes applied %d, merged %d, kept as conflicts %d, rejected %d",
		s.cases, s.serverKills, s.tabletKills, s.scopeMoves, s.homeRestores, s.serverRestores, s.refused, s.cancelledWrites, s.escrowed, s.results[v1.Result_RESULT_APPLIED], s.results[v1.Result_RESULT_MERGED],
		s.results[v1.Result_RESULT_CONFLICT], s.results[v1.Result_RESULT_REJECTED])
}

// convWorld is one run: the server process, the tablets, the cases and the ledger of everything
// the tablets' users wrote.
type convWorld struct {
	t   testing.TB
	srv *serverProc
	// srvs are the server processes on the one store, srv first: on PostgreSQL a second instance
	// serves half the tablets, and a kill takes one of them down while the other serves on.
	srvs    []*serverProc
	cases   []*convCase
	tablets []*convTablet

	// members says which consultants are assigned to which case now; everUnassigned which
	// (consultant, case) pairs were unassigned at some time; restoreUnassigned which ones a
	// server restore took away (assigned when the server was restored, not in its backup: the
	// admin assigned them, or planned the consultant's visit, after the backup).
	members           map[string]map[string]bool
	everUnassigned    map[[2]string]bool
	restoreUnassigned map[[2]string]bool
	cancelled         map[string]bool // visit ids

	ledger []*convEdit
	words  int // fresh words made so far

	// At most one restore per case: a tablet restored from an older copy of its home, or the
	// server from an older backup. epoch counts server restores; every push answer is recorded
	// with the epoch it came from.
	restored     bool
	epoch        int
	homeBackup   *homeBackup
	serverBackup *serverBackup
	lostVisits   map[string]bool // planned after the backup the server was restored from
	// held is, by device, the last sequence number the restored server held of it (set by a
	// server restore; matchTabletPushes).
	held map[string]int64

	serverKills, tabletKills, scopeMoves, refused, homeRestores, serverRestores int
	escrowed                                                                    int // escrowed changes in the pushes tablets made (each push of one counts)

	mu     sync.Mutex
	pushes map[string][]epochExchange // by device id, in the order the tablet received them
}

type epochExchange struct {
	epoch int
	*pushExchange
}

// homeBackup is a copy of one tablet's home, as a device backup takes it.
type homeBackup struct {
	tablet *convTablet
	dir    string
}

// serverBackup is a copy of the server's database and of what the admin had done by then.
type serverBackup struct {
	path      string
	members   map[string]map[string]bool
	cancelled map[string]bool
	visits    [][]string
	ledger    int // how many writes the ledger held when the backup began
}

type convCase struct {
	id     string
	visits []string
}

type convTablet struct {
	proc    *tabletProc
	user    string
	device  string
	written map[string]map[string]bool // field key → values this tablet wrote there
}

// convEdit is one local write a person made on a tablet, as the test asked for it and the
// tablet confirmed it: what was shown before (seen) and what was written (value).
type convEdit struct {
	tablet  *convTablet
	kind    string // section, check, observe
	caseID  string
	visitID string
	record  string // the report's id for a section edit
	field   string // section name, checklist item key, or "text"
	seen    string
	value   string

	// From the server's answers to the tablet's pushes. restoredOnly: only a server restored
	// from an older backup answered it (the tablet heard no answer to it before the restore).
	deviceSeq    int64
	result       v1.Result
	serverSeq    int64
	reason       string
	restoredOnly bool
}

func newConvWorld(ct *caseScope, rt *rapid.T) *convWorld {
	w := &convWorld{t: ct, members: map[string]map[string]bool{}, everUnassigned: map[[2]string]bool{}, restoreUnassigned: map[[2]string]bool{},
		cancelled: map[string]bool{}, lostVisits: map[string]bool{}, pushes: map[string][]epochExchange{}}
	w.srv = startServerProc(ct)
	w.srvs = []*serverProc{w.srv}
	if pgtest.Enabled() {
		w.srvs = append(w.srvs, startServerProcOn(ct, w.srv.dir))
	}
	w.admin(rt, func(ctx context.Context, st *server.Store) error {
		if _, err := st.AddUser(ctx, "Sara", []string{"caseworker"}); err != nil {
			return err
		}
		for _, c := range append(slices.Clone(convConsultants), "Tjek") {
			if _, err := st.AddUser(ctx, c, []string{"consultant"}); err != nil {
				return err
			}
		}
		for _, c := range convConsultants {
			w.members[c] = map[string]bool{}
		}
		n := rapid.IntRange(2, 3).Draw(rt, "cases")
		for i := 0; i < n; i++ {
			id, err := st.AddCase(ctx, server.NewCase{Children: []string{fmt.Sprintf("Barn zq%dbq", i)}, Parents: []string{"Forælder"}, Caseworker: "Sara"})
			if err != nil {
				return err
			}
			c := &convCase{id: id}
			w.cases = append(w.cases, c)
			// Kim plans in the first case, Ane in the second; the rest is drawn.
			for j, consultant := range convConsultants {
				if j == i || rapid.Bool().Draw(rt, "visit") {
					if err := w.addVisit(ctx, st, c, consultant); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	// Sara's tablet: a caseworker's device holds no case data offline (she reads reports online,
	// with a purpose), so it must end holding none, through every fault.
	for _, user := range []string{"Kim", "Kim", "Ane", "Sara"} {
		w.tablets = append(w.tablets, w.enroll(rt, user))
	}
	return w
}

func (w *convWorld) addVisit(ctx context.Context, st *server.Store, c *convCase, consultant string) error {
	start := time.Now().Add(time.Duration(len(c.visits)-2) * time.Hour)
	id, err := st.AddVisit(ctx, server.NewVisit{CaseID: c.id, Consultant: consultant, Kind: "supervised",
		Start: start, End: start.Add(time.Hour), Place: "Rum 2"})
	if err != nil {
		return err
	}
	c.visits = append(c.visits, id)
	w.members[consultant][c.id] = true
	return nil
}

func (w *convWorld) admin(rt *rapid.T, fn func(ctx context.Context, st *server.Store) error) {
	if err := w.srv.admin(fn); err != nil {
		rt.Fatalf("admin: %v", err)
	}
}

// enroll enrolls a tablet for user in this process, then runs it as a tablet process.
func (w *convWorld) enroll(rt *rapid.T, user string) *convTablet {
	var code string
	w.admin(rt, func(ctx context.Context, st *server.Store) (err error) {
		code, _, err = st.NewEnrollmentCode(ctx, user)
		return err
	})
	home := w.t.TempDir()
	tb, err := clientlib.Enroll(context.Background(), home, w.srvs[len(w.tablets)%len(w.srvs)].URL(), code, "test tablet", clientlib.Options{PIN: testPIN, KDF: testKDF})
	if err != nil {
		rt.Fatal(err)
	}
	ctb := &convTablet{user: user, device: tb.DeviceID(), written: map[string]map[string]bool{}}
	if err := tb.Close(); err != nil {
		rt.Fatal(err)
	}
	ctb.proc = &tabletProc{t: w.t, home: home, page: convPage, onPush: func(x *pushExchange) {
		w.mu.Lock()
		w.pushes[ctb.device] = append(w.pushes[ctb.device], epochExchange{w.epoch, x})
		w.mu.Unlock()
	}}
	ctb.proc.start()
	w.t.Cleanup(ctb.proc.kill)
	return ctb
}

// fresh returns a word no one has written before. Fixed width, so no word is part of another.
func (w *convWorld) fresh() string {
	w.words++
	return fmt.Sprintf("zq%04dq", w.words)
}

// crashOne kills a server process (one of the instances, drawn, on PostgreSQL) and starts it
// again; the other instance serves meanwhile.
func (w *convWorld) crashOne(rt *rapid.T) {
	s := w.srv
	if len(w.srvs) > 1 {
		s = w.srvs[rapid.IntRange(0, len(w.srvs)-1).Draw(rt, "instance")]
	}
	s.crash()
	w.serverKills++
}

// step takes one drawn action.
func (w *convWorld) step(rt *rapid.T) {
	tb := w.tablets[rapid.IntRange(0, len(w.tablets)-1).Draw(rt, "tablet")]
	switch rapid.IntRange(0, 17).Draw(rt, "action") {
	case 0, 1, 2, 3, 4:
		w.editSection(rt, tb)
	case 5:
		w.tick(rt, tb)
	case 6:
		w.observe(rt, tb)
	case 7, 8: // one tablet syncs, maybe losing responses, maybe killed mid-sync
		w.syncOne(rt, tb)
	case 9, 10: // every tablet syncs at once, maybe while the server is killed
		w.syncAll(rt)
	case 11: // the app is killed between a local write and its push
		tb.proc.reopen()
		w.tabletKills++
	case 12: // the server is killed while idle
		w.crashOne(rt)
	case 13: // a stale push arrives again, late and out of order
		if _, err := tb.proc.do(tabletRequest{Op: "replay", N: rapid.IntRange(0, 100).Draw(rt, "replay")}); err != nil {
			rt.Fatal(err)
		}
	case 14:
		w.scope(rt)
	case 15, 16:
		w.restore(rt, tb)
	case 17:
		w.cancel(rt)
	}
}

// restore backs up or restores a tablet's home or the server's database (one restore per case).
//
// A tablet's home is copied while the tablet is idle, as a device backup copies an app's files.
// Before it is restored, the tablet syncs without faults, so each of its writes is on the server
// and answered: then nothing of it may be lost, although the restored tablet reuses the device
// sequence numbers of everything it wrote after the copy.
//
// The server's database is copied with Store.Backup while every tablet pushes and pulls. When it
// is restored, what the admin did after the backup is undone with it (the visits planned since are
// gone, and so are changes to them); everything any tablet wrote must come back.
func (w *convWorld) restore(rt *rapid.T, tb *convTablet) {
	if w.restored {
		return
	}
	switch {
	case w.homeBackup == nil && w.serverBackup == nil && rapid.Bool().Draw(rt, "back up the server"):
		w.mu.Lock()
		b := &serverBackup{path: w.t.TempDir() + "/backup.db", members: map[string]map[string]bool{}, cancelled: maps.Clone(w.cancelled), ledger: len(w.ledger)}
		w.mu.Unlock()
		for u, m := range w.members {
			b.members[u] = maps.Clone(m)
		}
		for _, c := range w.cases {
			b.visits = append(b.visits, slices.Clone(c.visits))
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.syncAllWith(false, 0, nil)
		}()
		w.admin(rt, func(ctx context.Context, st *server.Store) error { return backupServer(w.t, st, w.srv.dir, b.path) })
		wg.Wait()
		w.serverBackup = b
	case w.homeBackup == nil && w.serverBackup == nil:
		b := &homeBackup{tablet: tb, dir: w.t.TempDir()}
		if err := os.CopyFS(b.dir, os.DirFS(tb.proc.home)); err != nil {
			rt.Fatal(err)
		}
		w.homeBackup = b
	case w.homeBackup != nil:
		b := w.homeBackup
		if _, err := b.tablet.proc.do(tabletRequest{Op: "sync"}); err != nil {
			rt.Fatalf("sync before the restore: %v", err)
		}
		b.tablet.proc.kill()
		if err := os.RemoveAll(b.tablet.proc.home); err != nil {
			rt.Fatal(err)
		}
		if err := os.CopyFS(b.tablet.proc.home, os.DirFS(b.dir)); err != nil {
			rt.Fatal(err)
		}
		b.tablet.proc.start()
		w.restored = true
		w.homeRestores++
	default:
		b := w.serverBackup
		if rapid.IntRange(0, 2).Draw(rt, "take a writer off a case before the restore") > 0 {
			w.unassignAWriter(rt, b)
		}
		for _, s := range w.srvs {
			s.kill()
		}
		if err := restoreServer(w.t, w.srv.dir, b.path); err != nil {
			rt.Fatal(err)
		}
		held := map[string]int64{}
		w.admin(rt, func(ctx context.Context, st *server.Store) error {
			devices, err := st.Devices(ctx)
			for _, d := range devices {
				held[d.ID] = d.LastSeq
			}
			return err
		})
		w.mu.Lock()
		w.epoch++
		w.held = held
		w.mu.Unlock()
		// The restore undoes assignments made since the backup, as an unassignment would: the
		// consultant's tablets may still hold the case and write in it offline until they sync.
		for u, m := range w.members {
			for c, member := range m {
				if member && !b.members[u][c] {
					w.restoreUnassigned[[2]string{u, c}] = true
				}
			}
		}
		w.members, w.cancelled = b.members, b.cancelled
		for i, c := range w.cases {
			for _, v := range c.visits {
				if !slices.Contains(b.visits[i], v) {
					w.lostVisits[v] = true
				}
			}
			c.visits = b.visits[i]
		}
		for _, s := range w.srvs {
			s.start()
		}
		w.restored = true
		w.serverRestores++
	}
}

// unassignAWriter takes a consultant off a case she wrote in since the backup b began, and her
// tablets sync: the case leaves them, and what she wrote in it is on no tablet in a form a tablet
// can read — only sealed to the server's escrow key, which is what must bring it back after the
// restore that follows.
func (w *convWorld) unassignAWriter(rt *rapid.T, b *serverBackup) {
	w.mu.Lock()
	var writers [][2]string
	for _, e := range w.ledger[b.ledger:] {
		pair := [2]string{e.tablet.user, e.caseID}
		if w.members[pair[0]][pair[1]] && !slices.Contains(writers, pair) {
			writers = append(writers, pair)
		}
	}
	w.mu.Unlock()
	if len(writers) == 0 {
		return
	}
	pair := rapid.SampledFrom(writers).Draw(rt, "writer")
	syncHers := func(when string) {
		for _, tb := range w.tablets {
			if tb.user != pair[0] {
				continue
			}
			if tb.proc.cmd == nil {
				tb.proc.start()
			}
			if _, err := tb.proc.do(tabletRequest{Op: "sync"}); err != nil {
				rt.Fatalf("sync %s taking %s off a case: %v", when, pair[0], err)
			}
		}
	}
	// She syncs at the end of her visit, so the server acknowledges what she wrote; then she is
	// taken off the case, and her tablets sync again and let the case go.
	syncHers("before")
	w.scopeMoves++
	w.members[pair[0]][pair[1]] = false
	w.everUnassigned[pair] = true
	w.admin(rt, func(ctx context.Context, st *server.Store) error {
		return st.UnassignCase(ctx, server.Actor{}, pair[1], pair[0])
	})
	syncHers("after")
}

// visits is what the tablet shows now.
func (w *convWorld) visits(rt *rapid.T, tb *convTablet) []clientlib.Visit {
	r, err := tb.proc.do(tabletRequest{Op: "visits"})
	if err != nil {
		rt.Fatalf("visits: %v", err)
	}
	return r.Visits
}

func (w *convWorld) pickVisit(rt *rapid.T, tb *convTablet) (clientlib.Visit, bool) {
	vs := w.visits(rt, tb)
	if len(vs) == 0 {
		return clientlib.Visit{}, false
	}
	return vs[rapid.IntRange(0, len(vs)-1).Draw(rt, "visit")], true
}

// editSection inserts, deletes or rewrites words of a section as the tablet shows it.
func (w *convWorld) editSection(rt *rapid.T, tb *convTablet) {
	v, ok := w.pickVisit(rt, tb)
	if !ok {
		return
	}
	section := rapid.SampledFrom(convSections).Draw(rt, "section")
	seen := ""
	for _, s := range v.Report {
		if s.Key == section {
			seen = s.Text
		}
	}
	words := strings.Fields(seen)
	switch op := rapid.IntRange(0, 2).Draw(rt, "edit"); {
	case op == 0 || len(words) == 0: // insert
		at := rapid.IntRange(0, len(words)).Draw(rt, "at")
		words = slices.Insert(words, at, w.fresh())
	case op == 1: // delete a word
		at := rapid.IntRange(0, len(words)-1).Draw(rt, "at")
		words = slices.Delete(words, at, at+1)
	default: // rewrite a run of words (possibly all of them)
		from := rapid.IntRange(0, len(words)-1).Draw(rt, "from")
		to := rapid.IntRange(from+1, len(words)).Draw(rt, "to")
		words = slices.Replace(words, from, to, w.fresh(), w.fresh())
	}
	key := v.ReportID + "/" + section
	if tb.written[key] == nil {
		tb.written[key] = map[string]bool{}
	}
	value := strings.Join(words, " ")
	if tb.written[key][value] || value == seen {
		// Every value a tablet writes to a field is new, so each write is recognisable in the
		// server's answers.
		value = strings.TrimSpace(value + " " + w.fresh())
	}
	tb.written[key][value] = true
	if _, err := tb.proc.do(tabletRequest{Op: "set", Visit: v.ID, Section: section, Text: value}); err != nil {
		w.refused++
		// Refused with a reason (say, a visit whose report a cut-short pull has not brought
		// yet): nothing was written, and the checker proves it (every write is accounted for).
		return
	}
	w.ledger = append(w.ledger, &convEdit{tablet: tb, kind: "section", caseID: v.CaseID, visitID: v.ID, record: v.ReportID,
		field: section, seen: seen, value: value})
}

func (w *convWorld) tick(rt *rapid.T, tb *convTablet) {
	v, ok := w.pickVisit(rt, tb)
	if !ok || len(v.Checklist) == 0 {
		return
	}
	item := v.Checklist[rapid.IntRange(0, len(v.Checklist)-1).Draw(rt, "item")]
	checked := rapid.Bool().Draw(rt, "checked")
	if _, err := tb.proc.do(tabletRequest{Op: "check", Visit: v.ID, Item: item.Key, Checked: checked}); err != nil {
		w.refused++
		return // refused, nothing written (see editSection)
	}
	w.ledger = append(w.ledger, &convEdit{tablet: tb, kind: "check", caseID: v.CaseID, visitID: v.ID, field: item.Key,
		value: fmt.Sprint(checked)})
}

func (w *convWorld) observe(rt *rapid.T, tb *convTablet) {
	v, ok := w.pickVisit(rt, tb)
	if !ok {
		return
	}
	text := "Iagttagelse " + w.fresh()
	if _, err := tb.proc.do(tabletRequest{Op: "observe", Visit: v.ID, Text: text}); err != nil {
		w.refused++
		return // refused, nothing written (see editSection)
	}
	w.ledger = append(w.ledger, &convEdit{tablet: tb, kind: "observe", caseID: v.CaseID, visitID: v.ID, field: "text", value: text})
}

// syncOne syncs one tablet. Its errors are expected (lost responses, a killed tablet): the next
// sync recovers.
func (w *convWorld) syncOne(rt *rapid.T, tb *convTablet) {
	lose := rapid.IntRange(0, 4).Draw(rt, "lose") / 2
	if !rapid.Bool().Draw(rt, "kill mid-sync") {
		tb.proc.do(tabletRequest{Op: "sync", N: lose})
		return
	}
	delay := time.Duration(rapid.IntRange(0, 60).Draw(rt, "kill after ms")) * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		tb.proc.do(tabletRequest{Op: "sync", N: lose})
	}()
	time.Sleep(delay)
	tb.proc.kill()
	<-done
	tb.proc.start()
	w.tabletKills++
}

// syncAll syncs every tablet concurrently; the server may be killed and restarted meanwhile.
func (w *convWorld) syncAll(rt *rapid.T) {
	kill := rapid.Bool().Draw(rt, "kill server mid-sync")
	delay := time.Duration(rapid.IntRange(0, 80).Draw(rt, "server kill after ms")) * time.Millisecond
	victim := w.srv
	if kill && len(w.srvs) > 1 {
		victim = w.srvs[rapid.IntRange(0, len(w.srvs)-1).Draw(rt, "instance")]
	}
	w.syncAllWith(kill, delay, victim)
}

func (w *convWorld) syncAllWith(kill bool, delay time.Duration, victim *serverProc) {
	var wg sync.WaitGroup
	for _, tb := range w.tablets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb.proc.do(tabletRequest{Op: "sync"})
		}()
	}
	if kill {
		time.Sleep(delay)
		victim.crash()
		w.serverKills++
	}
	wg.Wait()
}

// scope assigns, unassigns, plans or cancels, as an admin would while the tablets work.
func (w *convWorld) scope(rt *rapid.T) {
	c := w.cases[rapid.IntRange(0, len(w.cases)-1).Draw(rt, "case")]
	consultant := rapid.SampledFrom(convConsultants).Draw(rt, "consultant")
	w.scopeMoves++
	w.admin(rt, func(ctx context.Context, st *server.Store) error {
		switch rapid.IntRange(0, 3).Draw(rt, "scope") {
		case 0:
			if w.members[consultant][c.id] {
				w.members[consultant][c.id] = false
				w.everUnassigned[[2]string{consultant, c.id}] = true
				return st.UnassignCase(ctx, server.Actor{}, c.id, consultant)
			}
			w.members[consultant][c.id] = true
			return st.AssignCase(ctx, server.Actor{}, c.id, consultant, "consultant")
		case 1:
			return w.addVisit(ctx, st, c, consultant)
		default:
			return w.cancelIn(ctx, st, rt, c)
		}
	})
}

// cancel cancels a visit, as an admin would while the tablets work: what was and will be
// written for it must be kept, on the server and on the tablets.
func (w *convWorld) cancel(rt *rapid.T) {
	c := w.cases[rapid.IntRange(0, len(w.cases)-1).Draw(rt, "case")]
	w.scopeMoves++
	w.admin(rt, func(ctx context.Context, st *server.Store) error { return w.cancelIn(ctx, st, rt, c) })
}

func (w *convWorld) cancelIn(ctx context.Context, st *server.Store, rt *rapid.T, c *convCase) error {
	var open []string
	for _, v := range c.visits {
		if !w.cancelled[v] {
			open = append(open, v)
		}
	}
	if len(open) == 0 {
		return nil
	}
	v := open[rapid.IntRange(0, len(open)-1).Draw(rt, "cancel")]
	w.cancelled[v] = true
	return st.CancelVisit(ctx, v)
}

// quiesce restarts whatever is down and syncs every tablet, without faults, until nothing is
// pending anywhere and a full round brings nothing new.
func (w *convWorld) quiesce(rt *rapid.T) {
	for _, tb := range w.tablets {
		if tb.proc.cmd == nil {
			tb.proc.start()
		}
	}
	for round := 0; round < 10; round++ {
		quiet := true
		for _, tb := range w.tablets {
			r, err := tb.proc.do(tabletRequest{Op: "sync"})
			if err != nil {
				rt.Fatalf("sync while quiescing: %v", err)
			}
			if r.Sync.Pushed > 0 || r.Sync.Pulled > 0 {
				quiet = false
			}
		}
		if quiet {
			return
		}
	}
	rt.Fatal("tablets did not quiesce within 10 rounds")
}

// caseScope runs the cleanups registered during one property-test case when that case ends.
type caseScope struct {
	testing.TB
	cleanups []func()
}

func (c *caseScope) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

func (c *caseScope) close() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

// serverLog is every committed change of the cases, in the server's commit order, read through
// Pull from cursor 0 by a fresh tablet of a consultant assigned to every case; and the state the
// log folds into (syncer.ApplyCommitted, as every tablet applies it).
type serverLog struct {
	changes []*v1.CommittedChange
	state   map[string]*v1.CommittedChange
}

func (w *convWorld) readLog(rt *rapid.T) *serverLog {
	ctx := context.Background()
	var code string
	w.admin(rt, func(ctx context.Context, st *server.Store) (err error) {
		for _, c := range w.cases {
			if err := st.AssignCase(ctx, server.Actor{}, c.id, "Tjek", "consultant"); err != nil {
				return err
			}
		}
		code, _, err = st.NewEnrollmentCode(ctx, "Tjek")
		return err
	})
	tb, err := clientlib.Enroll(ctx, w.t.TempDir(), w.srv.URL(), code, "checker", clientlib.Options{PIN: testPIN, KDF: testKDF})
	if err != nil {
		rt.Fatal(err)
	}
	defer tb.Close()
	tok, err := tb.AccessToken(ctx)
	if err != nil {
		rt.Fatal(err)
	}
	client := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, w.srv.URL())
	l := &serverLog{state: map[string]*v1.CommittedChange{}}
	var cursor int64
	var known []string
	for {
		// From cursor 0 every case comes complete from the log, so no snapshot is due.
		req := connect.NewRequest(&v1.PullRequest{Cursor: cursor, MaxChanges: 50, KnownCases: known})
		req.Header().Set("Authorization", "Bearer "+tok)
		res, err := client.Pull(ctx, req)
		if err != nil {
			rt.Fatalf("read the log: %v", err)
		}
		known = append(known, res.Msg.CompleteCases...)
		if len(res.Msg.Snapshot) > 0 || len(res.Msg.PurgeCases) > 0 {
			rt.Fatalf("a pull from the start of the log brought a snapshot or a purge")
		}
		for _, ch := range res.Msg.Changes {
			if n := len(l.changes); n > 0 && ch.Seq <= l.changes[n-1].Seq {
				rt.Fatalf("the log goes back from seq %d to %d", l.changes[n-1].Seq, ch.Seq)
			}
			l.changes = append(l.changes, ch)
			l.state[ch.Record.Id] = syncer.ApplyCommitted(l.state[ch.Record.Id], ch)
		}
		cursor = res.Msg.NextCursor
		if !res.Msg.More {
			return l
		}
	}
}

// digest is the fold's digest of a case, over what a consultant's device holds of it
// (records.Digest's definition).
func (l *serverLog) digest(caseID string) string {
	var recs []*v1.CommittedChange
	for _, r := range l.state {
		if r.Record.CaseId == caseID {
			recs = append(recs, r)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Record.Id < recs[j].Record.Id })
	d := syncer.NewDigester()
	for _, r := range syncer.HeldState(recs, time.Now().UnixMilli(), syncer.DefaultRetention) {
		d.Add(r)
	}
	return d.Sum()
}

// check verifies, after every tablet synced until quiet:
//
//  1. Replicas agree. Every consultant's tablet holds exactly the cases its user is assigned to:
//     for those its digest equals the server's, for the others it equals the digest of nothing
//     (purged), and it keeps no refused change of them (a dead letter goes with its case); the
//     caseworker's tablet holds nothing (her role reads online only). The
//     server's digest equals the digest of its own log folded in commit order, so its state is
//     its log — nothing acknowledged was dropped from the state, nothing is in the state that
//     the log does not hold.
//  2. Every write reached the server exactly once, as written. Each tablet's pushes, in device
//     sequence order, carry exactly its writes in the order it made them, each under one
//     sequence number with one content: no write lost, none duplicated, no sequence number
//     reused for other content, every one answered (with the same answer on every retry). A
//     server restored from an older backup lost the numbers after the tablet's last one it
//     held; the tablet sends again what it holds of those, numbered anew in order, less the
//     changes the server had refused (they are dead letters): there, one number may name one
//     change before the restore and another after it (matchTabletPushes says exactly what holds).
//  3. Rejections are only for a case the user had been unassigned from, or for a visit planned
//     after the backup the server was restored from (the restore took it away), or, answered
//     only by the restored server, for a case the restore took the user's assignment away from
//     (assigned, or given a visit, after the backup): her tablet held the case until its next
//     sync and she wrote in it offline, as after an unassignment. A write the server answered
//     before the restore is never refused after it on that ground. A cancelled
//     visit keeps what was written for it: an observation, tick or section edit of it is applied
//     or merged like any other, and the visit and its report stay in the server's state, marked
//     cancelled exactly when the admin cancelled it.
//  4. Text fields hold exactly what the merge rule says, derived from the server's answers. For
//     an edit E of a section, seen(E) is the text the tablet showed and value(E) what was
//     written; ins(E) = words(value) − words(seen), del(E) = words(seen) − words(value). E is
//     effective when the server applied or merged it, and a conflict when it kept E as a
//     conflict side. Words are unique (each is made once, by one edit), so a three-way merge
//     that loses nothing, resurrects nothing and duplicates nothing leaves exactly
//     ⋃ ins(E) − ⋃ del(E) over effective edits in the field, each word once; and the field's open
//     conflict sides are exactly the values of its conflict edits, each once.
//  5. A checklist tick (a register) holds the value of the effective edit the server committed
//     last, or "false" when none was.
//  6. Observations: each case holds exactly the multiset of observations the server applied.
//     And as the tablets show it: every consultant's tablet shows each visit of its cases, as
//     cancelled exactly when it was, and a cancelled visit with exactly the observations the
//     server applied to it (clientlib's Visits, what the app and `tablet visits` show).
//  7. No text a person wrote appears in the server's or any tablet's log output.
func (w *convWorld) check(rt *rapid.T) {
	ctx := context.Background()
	log := w.readLog(rt)
	var digests map[string]string
	w.admin(rt, func(ctx context.Context, st *server.Store) error {
		digests = map[string]string{}
		for _, c := range w.cases {
			d, err := st.CaseDigest(ctx, c.id)
			if err != nil {
				return err
			}
			digests[c.id] = d
		}
		return nil
	})
	empty := syncer.NewDigester().Sum()
	for _, c := range w.cases {
		if got := log.digest(c.id); got != digests[c.id] {
			rt.Fatalf("case %s: the server's state (digest %s) is not its log folded in commit order (%s)", c.id, digests[c.id], got)
		}
		for i, tb := range w.tablets {
			r, err := tb.proc.do(tabletRequest{Op: "digest", Case: c.id})
			if err != nil {
				rt.Fatal(err)
			}
			want := digests[c.id]
			if !w.members[tb.user][c.id] {
				want = empty
			}
			if r.Digest != want {
				rt.Fatalf("tablet %d (%s), case %s: digest %s, want %s (assigned: %v)", i, tb.user, c.id, r.Digest, want, w.members[tb.user][c.id])
			}
		}
	}
	_ = ctx

	for _, c := range w.cases {
		for _, id := range c.visits {
			switch v := log.state[id]; {
			case v == nil || v.Deleted:
				rt.Fatalf("visit %s of case %s is not in the server's state (cancelled: %v)", id, c.id, w.cancelled[id])
			case syncer.Cancelled(v) != w.cancelled[id]:
				rt.Fatalf("visit %s of case %s: cancelled on the server %v, want %v", id, c.id, syncer.Cancelled(v), w.cancelled[id])
			}
		}
	}

	w.matchPushes(rt, log)
	w.checkDeadLetters(rt, log)
	w.checkRejections(rt)
	w.checkSections(rt, log)
	w.checkTicks(rt, log)
	w.checkObservations(rt, log)
	w.checkCancelledViews(rt)
	w.checkLogs(rt)
}

// openEscrows has the server open the escrowed changes tablets sent (what a tablet keeps of a
// case that left it, sealed to the server), so they are matched by what they hold.
func (w *convWorld) openEscrows(rt *rapid.T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.admin(rt, func(ctx context.Context, st *server.Store) error {
		for _, exchanges := range w.pushes {
			for _, x := range exchanges {
				for i, c := range x.Changes {
					if len(c.Escrow) == 0 {
						continue
					}
					inner, err := st.OpenEscrow(c.Escrow)
					if err != nil {
						return fmt.Errorf("escrowed change %d: %w", c.Seq, err)
					}
					w.escrowed++
					opened := pushedChange{Seq: c.Seq, Op: inner.Op, Type: inner.Record.Type, Record: inner.Record.Id, Case: inner.Record.CaseId, Fields: map[string]string{}}
					for _, f := range inner.Fields {
						opened.Fields[f.Name] = f.Value
					}
					x.Changes[i] = opened
				}
			}
		}
		return nil
	})
}

// matchPushes gives every ledger edit its device sequence number and the server's answer (2).
func (w *convWorld) matchPushes(rt *rapid.T, log *serverLog) {
	w.openEscrows(rt)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tb := range w.tablets {
		var edits []*convEdit
		for _, e := range w.ledger {
			if e.tablet == tb {
				edits = append(edits, e)
			}
		}
		held, restored := w.held[tb.device]
		if !restored {
			held = -1
		}
		answers, err := matchTabletPushes(w.pushes[tb.device], edits, held, func(e *convEdit, c pushedChange) bool { return w.matches(log, e, c) })
		if err != nil {
			rt.Fatalf("%s's tablet: %v", tb.user, err)
		}
		for i, e := range edits {
			a := answers[i]
			e.deviceSeq, e.result, e.serverSeq, e.reason, e.restoredOnly = a.Seq, a.Result, a.ServerSeq, a.Reason, a.restoredOnly
		}
	}
}

// matchTabletPushes finds, for each of one tablet's writes (edits, in the order it made them),
// the device sequence number it was last pushed under and the answer of the server that holds
// it now, from every push of the tablet the server answered (exchanges, in order): those the
// tablet received, and stale ones the network delivered again late (Replay), whose answers the
// tablet never heard but which the server gave all the same. held is how many of the tablet's
// changes the server held when it was restored from an older backup (the device's last sequence
// number in the backup), -1 when it was not.
//
// Within one incarnation of the server (an epoch), a sequence number names one change, and a
// retry gets the first answer. In epoch 0 the tablet numbers its writes in order, so the sorted
// numbers are its writes one for one (a tablet restored from an older home numbers its new
// writes after the server's highest, never under an answered number). A server restored from a
// backup holds the tablet's changes 1..held as they were; it lost the rest, and the tablet sends
// again every change it still holds after held, in order, numbered held+1, held+2, … (clientlib
// renumber). It no longer holds a change the server refused: that one is a dead letter on the
// tablet, shown to the person with its reason, and is not sent again, so every later change moves
// down a number. A number after held may thus name one change in epoch 0 and another in epoch 1;
// that is not a reuse, since the restored server never held the first. So after held the epoch-1
// numbers carry, in order, the tablet's writes after held less those refused in epoch 0 (a write
// refused whose answer the tablet did not settle, killed in between, is sent again), and every
// write made since. A stale push from epoch 0 delivered late to the restored server may be what
// brings some of them back, under their old numbers (when they follow the server's highest): the
// tablet then sends only what follows.
func matchTabletPushes(exchanges []epochExchange, edits []*convEdit, held int64, matches func(*convEdit, pushedChange) bool) ([]tabletAnswer, error) {
	type sent struct {
		change pushedChange
		result pushedResult
	}
	epochs := []map[int64]*sent{{}, {}}
	for _, x := range exchanges {
		if x.epoch >= len(epochs) || (x.epoch > 0 && held < 0) {
			return nil, fmt.Errorf("a push answered by server incarnation %d, whose restore the test did not record", x.epoch)
		}
		what := "a push"
		if x.Replay {
			what = "a stale push delivered late"
		}
		bySeq := epochs[x.epoch]
		results := map[int64]pushedResult{}
		for _, r := range x.Results {
			results[r.Seq] = r
		}
		for _, c := range x.Changes {
			r, ok := results[c.Seq]
			if !ok {
				return nil, fmt.Errorf("the push of change %d was answered without its result", c.Seq)
			}
			s := bySeq[c.Seq]
			switch {
			case s == nil:
				bySeq[c.Seq] = &sent{change: c, result: r}
				continue
			case !sameChange(s.change, c):
				return nil, fmt.Errorf("device sequence number %d was accepted with two contents by one incarnation of the server: %+v and, in %s, %+v", c.Seq, s.change, what, c)
			case s.result.Result != r.Result || s.result.ServerSeq != r.ServerSeq:
				return nil, fmt.Errorf("change %d was answered %v (seq %d) once and %v (seq %d) on a retry (%s)", c.Seq,
					s.result.Result, s.result.ServerSeq, r.Result, r.ServerSeq, what)
			}
		}
	}
	sorted := func(m map[int64]*sent, keep func(int64) bool) []int64 {
		var seqs []int64
		for seq := range m {
			if keep(seq) {
				seqs = append(seqs, seq)
			}
		}
		slices.Sort(seqs)
		return seqs
	}
	answers := make([]tabletAnswer, len(edits))
	first, second := epochs[0], epochs[1]
	if held < 0 {
		seqs := sorted(first, func(int64) bool { return true })
		if len(seqs) != len(edits) {
			return nil, fmt.Errorf("the tablet made %d writes and the server answered %d changes", len(edits), len(seqs))
		}
		for i, seq := range seqs {
			if s := first[seq]; !matches(edits[i], s.change) {
				return nil, fmt.Errorf("write %d (%s %q on %s) was pushed as change %d: %+v", i, edits[i].kind, edits[i].value, edits[i].field, seq, s.change)
			}
			answers[i] = tabletAnswer{pushedResult: first[seq].result}
		}
		return answers, nil
	}
	// 1..held: the same changes in both epochs (the restored server holds them as they were),
	// the tablet's first held writes; a retry answered by the restored server is the answer now.
	kept := sorted(first, func(seq int64) bool { return seq <= held })
	for _, seq := range sorted(second, func(seq int64) bool { return seq <= held }) {
		if s := first[seq]; s == nil {
			kept = append(kept, seq)
		} else if !sameChange(s.change, second[seq].change) {
			return nil, fmt.Errorf("change %d, which the restored server held, was pushed again with other content: %+v, then %+v", seq, s.change, second[seq].change)
		}
	}
	slices.Sort(kept)
	if len(kept) > len(edits) {
		return nil, fmt.Errorf("the tablet made %d writes and the restored server answered %d changes up to %d", len(edits), len(kept), held)
	}
	for i, seq := range kept {
		s := second[seq]
		if s == nil {
			s = first[seq]
		}
		if seq != int64(i+1) || !matches(edits[i], s.change) {
			return nil, fmt.Errorf("write %d (%s %q on %s) was pushed as change %d: %+v", i, edits[i].kind, edits[i].value, edits[i].field, seq, s.change)
		}
		// The restored server held it as it was: its answer was given before the restore.
		answers[i] = tabletAnswer{pushedResult: s.result}
	}
	// After held: the epoch-0 answers by write (still numbered in order), and the epoch-1 numbers.
	rest := edits[len(kept):]
	before := sorted(first, func(seq int64) bool { return seq > held })
	if len(before) > len(rest) {
		return nil, fmt.Errorf("the tablet made %d writes and the server answered %d changes", len(edits), len(kept)+len(before))
	}
	for i, seq := range before {
		if s := first[seq]; seq != held+1+int64(i) || !matches(rest[i], s.change) {
			return nil, fmt.Errorf("write %d (%s %q on %s) was pushed as change %d: %+v", len(kept)+i, rest[i].kind, rest[i].value, rest[i].field, seq, s.change)
		}
	}
	after := sorted(second, func(seq int64) bool { return seq > held })
	for i, seq := range after {
		if seq != held+1+int64(i) {
			return nil, fmt.Errorf("the restored server answered change %d but not %d", seq, held+1+int64(i))
		}
	}
	// Align rest with after: each write is the next epoch-1 change, or (only if it was refused
	// in epoch 0) a dead letter not sent again. Identical writes (a tick repeated) are
	// interchangeable, so any alignment gives the same answers; fits finds one.
	refused := func(i int) bool {
		return i < len(before) && first[before[i]].result.Result == v1.Result_RESULT_REJECTED
	}
	type state struct{ i, j int }
	dead := map[state]bool{}
	var fits func(i, j int) bool
	fits = func(i, j int) bool {
		if i == len(rest) {
			return j == len(after)
		}
		if dead[state{i, j}] {
			return false
		}
		if j < len(after) && matches(rest[i], second[after[j]].change) && fits(i+1, j+1) {
			answers[len(kept)+i] = tabletAnswer{pushedResult: second[after[j]].result, restoredOnly: i >= len(before)}
			return true
		}
		if refused(i) && fits(i+1, j) {
			answers[len(kept)+i] = tabletAnswer{pushedResult: first[before[i]].result}
			return true
		}
		dead[state{i, j}] = true
		return false
	}
	if !fits(0, 0) {
		var missing []string
		for i, e := range rest {
			if !slices.ContainsFunc(after, func(seq int64) bool { return matches(e, second[seq].change) }) && !refused(i) {
				missing = append(missing, fmt.Sprintf("write %d (%s %q on %s)", len(kept)+i, e.kind, e.value, e.field))
			}
		}
		return nil, fmt.Errorf("after the server's restore (it held the tablet's changes up to %d), the tablet's %d later writes are not its %d changes answered since, in order, less some refused before (not sent again: %s)",
			held, len(rest), len(after), strings.Join(missing, ", "))
	}
	return answers, nil
}

// tabletAnswer is the answer that counts for one write (matchTabletPushes); restoredOnly when
// only the restored server answered it: no answer to it reached the tablet before the restore.
type tabletAnswer struct {
	pushedResult
	restoredOnly bool
}

func sameChange(a, b pushedChange) bool {
	if a.Op != b.Op || a.Type != b.Type || a.Record != b.Record || a.Case != b.Case || len(a.Fields) != len(b.Fields) {
		return false
	}
	for k, v := range a.Fields {
		if b.Fields[k] != v {
			return false
		}
	}
	return true
}

// matches reports whether the pushed change is the write e.
func (w *convWorld) matches(log *serverLog, e *convEdit, c pushedChange) bool {
	if c.Case != e.caseID {
		return false
	}
	switch e.kind {
	case "section":
		return c.Op == v1.Op_OP_UPDATE && c.Type == syncer.TypeReport && c.Record == e.record &&
			len(c.Fields) == 1 && c.Fields[e.field] == e.value
	case "check":
		item := log.state[c.Record]
		return c.Op == v1.Op_OP_UPDATE && c.Type == syncer.TypeChecklistItem && item != nil &&
			syncer.Value(item, "visit_id") == e.visitID && syncer.Value(item, "key") == e.field &&
			len(c.Fields) == 1 && c.Fields["checked"] == e.value
	case "observe":
		if c.Op == v1.Op_OP_CREATE && c.Type == syncer.TypeObservation && c.Fields["text"] == e.value && c.Fields["visit_id"] == e.visitID {
			e.record = c.Record
			return true
		}
	}
	return false
}

// checkDeadLetters (1, for what the tablet keeps of refused changes): a refused change of a case
// the tablet's user is not assigned to went with the case when it was purged — after an
// unassignment, and after a server restore that took the assignment away alike.
func (w *convWorld) checkDeadLetters(rt *rapid.T, log *serverLog) {
	caseOf := map[string]string{}
	for id, r := range log.state {
		caseOf[id] = r.Record.CaseId
	}
	for _, e := range w.ledger {
		if e.record != "" {
			caseOf[e.record] = e.caseID // also a refused observation, which the server never held
		}
	}
	for i, tb := range w.tablets {
		r, err := tb.proc.do(tabletRequest{Op: "dead"})
		if err != nil {
			rt.Fatal(err)
		}
		for _, d := range r.Dead {
			if c, ok := caseOf[d.RecordID]; ok && !w.members[tb.user][c] {
				rt.Fatalf("tablet %d (%s) keeps refused change %d (%s) of case %s, which its user is not assigned to: it should have gone with the case",
					i, tb.user, d.Seq, d.RecordType, c)
			}
		}
	}
}

// checkRejections (3).
func (w *convWorld) checkRejections(rt *rapid.T) {
	for _, e := range w.ledger {
		if e.result != v1.Result_RESULT_REJECTED {
			continue
		}
		switch {
		case w.everUnassigned[[2]string{e.tablet.user, e.caseID}]:
		case w.lostVisits[e.visitID]:
		// The restore took the user's assignment away and only the restored server answered the
		// write: written offline in a case the tablet still held, it is refused as after an
		// unassignment. One the server had answered before the restore must not be refused.
		case w.restoreUnassigned[[2]string{e.tablet.user, e.caseID}] && e.restoredOnly:
		default:
			rt.Fatalf("%s's %s write %q was rejected: %s", e.tablet.user, e.kind, e.value, e.reason)
		}
	}
}

func effective(r v1.Result) bool {
	return r == v1.Result_RESULT_APPLIED || r == v1.Result_RESULT_MERGED
}

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

// checkSections (4).
func (w *convWorld) checkSections(rt *rapid.T, log *serverLog) {
	type fieldKey struct{ record, field string }
	edits := map[fieldKey][]*convEdit{}
	for _, e := range w.ledger {
		if e.kind == "section" {
			k := fieldKey{e.record, e.field}
			edits[k] = append(edits[k], e)
		}
	}
	sides := map[fieldKey][]string{}
	for _, r := range log.state {
		if r.Record.Type == syncer.TypeConflict && !r.Deleted && syncer.Value(r, "rule") == "text" && syncer.Value(r, "resolved") != "true" {
			k := fieldKey{syncer.Value(r, "record_id"), syncer.Value(r, "field")}
			sides[k] = append(sides[k], syncer.Value(r, "other_value"))
		}
	}
	for k, es := range edits {
		sort.Slice(es, func(i, j int) bool { return es[i].serverSeq < es[j].serverSeq })
		want := map[string]bool{}
		var deleted []string
		var wantSides []string
		for _, e := range es {
			switch {
			case effective(e.result):
				seen, value := wordSet(e.seen), wordSet(e.value)
				for word := range value {
					if !seen[word] {
						want[word] = true
					}
				}
				for word := range seen {
					if !value[word] {
						deleted = append(deleted, word)
					}
				}
			case e.result == v1.Result_RESULT_CONFLICT:
				wantSides = append(wantSides, e.value)
			}
		}
		for _, word := range deleted {
			delete(want, word)
		}
		rec := log.state[k.record]
		if rec == nil {
			// Only the report of a visit a server restore took away is gone, and with it every
			// edit of it was refused.
			for _, e := range es {
				if !w.lostVisits[e.visitID] || e.result != v1.Result_RESULT_REJECTED {
					rt.Fatalf("report %s is not in the server's log\n%s", k.record, describe(es))
				}
			}
			continue
		}
		if rec.Deleted {
			rt.Fatalf("report %s (visit %s) was deleted\n%s", k.record, es[0].visitID, describe(es))
		}
		got := strings.Fields(syncer.Value(rec, k.field))
		gotSet := map[string]bool{}
		for _, word := range got {
			if gotSet[word] {
				rt.Fatalf("report %s section %s: word %s is there twice: %q", k.record, k.field, word, strings.Join(got, " "))
			}
			gotSet[word] = true
			if !want[word] {
				rt.Fatalf("report %s section %s holds %q, which no edit in effect wrote or an edit in effect deleted (resurrected or invented): %q\n%s",
					k.record, k.field, word, strings.Join(got, " "), describe(es))
			}
		}
		for word := range want {
			if !gotSet[word] {
				rt.Fatalf("report %s section %s lost %q: %q\n%s", k.record, k.field, word, strings.Join(got, " "), describe(es))
			}
		}
		slices.Sort(wantSides)
		gotSides := slices.Clone(sides[k])
		slices.Sort(gotSides)
		if !slices.Equal(wantSides, gotSides) {
			rt.Fatalf("report %s section %s: open conflict sides %q, want %q\n%s", k.record, k.field, gotSides, wantSides, describe(es))
		}
		delete(sides, k)
	}
	for k, s := range sides {
		rt.Fatalf("report %s section %s has conflict sides no edit made: %q", k.record, k.field, s)
	}
}

func describe(es []*convEdit) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  seq %d %v by %s/%d: %q -> %q\n", e.serverSeq, e.result, e.tablet.user, e.deviceSeq, e.seen, e.value)
	}
	return b.String()
}

// checkTicks (5).
func (w *convWorld) checkTicks(rt *rapid.T, log *serverLog) {
	type itemKey struct{ visit, key string }
	last := map[itemKey]*convEdit{}
	for _, e := range w.ledger {
		if e.kind != "check" || !effective(e.result) {
			continue
		}
		k := itemKey{e.visitID, e.field}
		if p := last[k]; p == nil || e.serverSeq > p.serverSeq {
			last[k] = e
		}
	}
	for _, r := range log.state {
		if r.Record.Type != syncer.TypeChecklistItem {
			continue
		}
		want := "false"
		if e := last[itemKey{syncer.Value(r, "visit_id"), syncer.Value(r, "key")}]; e != nil {
			want = e.value
		}
		if got := syncer.Value(r, "checked"); got != want {
			rt.Fatalf("checklist item %s of visit %s is %s, want %s", syncer.Value(r, "key"), syncer.Value(r, "visit_id"), got, want)
		}
	}
}

// checkObservations (6).
func (w *convWorld) checkObservations(rt *rapid.T, log *serverLog) {
	var want, got []string
	for _, e := range w.ledger {
		if e.kind == "observe" && e.result == v1.Result_RESULT_APPLIED {
			want = append(want, e.visitID+" "+e.value)
		}
	}
	for _, r := range log.state {
		if r.Record.Type == syncer.TypeObservation {
			if r.Deleted {
				rt.Fatalf("observation %s was deleted", r.Record.Id)
			}
			got = append(got, syncer.Value(r, "visit_id")+" "+syncer.Value(r, "text"))
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		rt.Fatalf("observations on the server:\n%q\nwant:\n%q", got, want)
	}
}

// checkCancelledViews (6, as the tablet shows it): every consultant's tablet shows each visit of
// the cases it holds as cancelled exactly when it was, and a cancelled visit with exactly the
// observations the server applied to it.
func (w *convWorld) checkCancelledViews(rt *rapid.T) {
	want := map[string][]string{}
	for _, e := range w.ledger {
		if e.kind == "observe" && e.result == v1.Result_RESULT_APPLIED {
			want[e.visitID] = append(want[e.visitID], e.value)
		}
	}
	for i, tb := range w.tablets {
		shown := map[string]clientlib.Visit{}
		for _, v := range w.visits(rt, tb) {
			shown[v.ID] = v
		}
		for _, c := range w.cases {
			if !w.members[tb.user][c.id] {
				continue
			}
			for _, id := range c.visits {
				v, ok := shown[id]
				if !ok {
					rt.Fatalf("tablet %d (%s) does not show visit %s of case %s", i, tb.user, id, c.id)
				}
				if (v.CancelledMs != 0) != w.cancelled[id] {
					rt.Fatalf("tablet %d (%s) shows visit %s with cancelled_ms %d, want cancelled: %v", i, tb.user, id, v.CancelledMs, w.cancelled[id])
				}
				if !w.cancelled[id] {
					continue
				}
				var got []string
				for _, o := range v.Observations {
					got = append(got, o.Text)
				}
				exp := slices.Clone(want[id])
				slices.Sort(got)
				slices.Sort(exp)
				if !slices.Equal(got, exp) {
					rt.Fatalf("tablet %d (%s) shows cancelled visit %s with observations\n%q\nwant:\n%q", i, tb.user, id, got, exp)
				}
			}
		}
	}
}

// checkLogs (7).
func (w *convWorld) checkLogs(rt *rapid.T) {
	var logs string
	for _, s := range w.srvs {
		logs += s.logs.String()
	}
	for _, tb := range w.tablets {
		logs += tb.proc.stderr.String()
	}
	for i := 1; i <= w.words; i++ {
		if word := fmt.Sprintf("zq%04dq", i); strings.Contains(logs, word) {
			rt.Fatalf("written text %s appears in a log", word)
		}
	}
	if strings.Contains(logs, "Barn zq") {
		rt.Fatal("a child's name appears in a log")
	}
}
