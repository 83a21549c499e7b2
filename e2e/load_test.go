package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/pgtest"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The load test (`make loadtest`, docs/benchmarks.md "Load test"): many simulated tablets, each
// holding a Subscribe stream open and syncing a few observations every few seconds, against two
// server processes on one PostgreSQL database and, in the same run, one on SQLite. The servers
// are child processes (their memory is read from /proc); the tablets are goroutines of this
// process speaking the wire protocol directly, over loopback.

// loadConfig is the size of a load run, from the environment (make loadtest's variables).
type loadConfig struct {
	tablets  int           // SAMVAER_LOAD_TABLETS: simulated tablets, one consultant each
	perCase  int           // consultants (and tablets) per case
	interval time.Duration // SAMVAER_LOAD_INTERVAL: each tablet syncs this often
	changes  int           // SAMVAER_LOAD_CHANGES: observations a tablet pushes per sync
	duration time.Duration // SAMVAER_LOAD_DURATION: the steady state, per target
}

func loadConfigFromEnv(t *testing.T) loadConfig {
	t.Helper()
	cfg := loadConfig{tablets: 1000, perCase: 10, interval: 5 * time.Second, changes: 3, duration: 60 * time.Second}
	if v := os.Getenv("SAMVAER_LOAD_TABLETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 || n > 5000 {
			t.Fatalf("SAMVAER_LOAD_TABLETS is %q: give a number of tablets from 2 to 5000", v)
		}
		cfg.tablets = n
	}
	for _, d := range []struct {
		env      string
		into     *time.Duration
		min, max time.Duration
	}{
		{"SAMVAER_LOAD_INTERVAL", &cfg.interval, 100 * time.Millisecond, time.Minute},
		// Access tokens live five minutes and the simulated tablets take theirs at enrollment.
		{"SAMVAER_LOAD_DURATION", &cfg.duration, time.Second, 3 * time.Minute},
	} {
		if v := os.Getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < d.min || x > d.max {
				t.Fatalf("%s is %q: give a duration from %v to %v, e.g. 30s", d.env, v, d.min, d.max)
			}
			*d.into = x
		}
	}
	if v := os.Getenv("SAMVAER_LOAD_CHANGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("SAMVAER_LOAD_CHANGES is %q: give a number of observations per sync from 1 to 100", v)
		}
		cfg.changes = n
	}
	cfg.perCase = min(cfg.perCase, cfg.tablets)
	return cfg
}

// TestLoad runs the load against both stores and prints one table.
func TestLoad(t *testing.T) {
	if os.Getenv("SAMVAER_LOAD") != "1" {
		t.Skip("the load test runs a thousand tablets for minutes; make loadtest runs it")
	}
	if !pgtest.Enabled() {
		t.Fatalf("the load test needs PostgreSQL: set %s (make loadtest sets it)", pgtest.Env)
	}
	cfg := loadConfigFromEnv(t)
	t.Logf("%d tablets in %d cases, each syncing %d observations every %v and holding a Subscribe stream; %v of steady state per target",
		cfg.tablets, (cfg.tablets+cfg.perCase-1)/cfg.perCase, cfg.changes, cfg.interval, cfg.duration)
	var results []loadResult
	t.Run("postgres", func(t *testing.T) { results = append(results, runLoad(t, cfg, "PostgreSQL, 2 instances", 2, false)) })
	t.Run("sqlite", func(t *testing.T) { results = append(results, runLoad(t, cfg, "SQLite, 1 instance", 1, true)) })
	var b strings.Builder
	fmt.Fprintf(&b, "\n| target | tablets | syncs/s | sync p50 | sync p99 | commit→other tablets' pull p99 | pulls/s | errors | missed | RSS per connected tablet |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %.0f | %d | %d | %.0f KiB |\n", r.target, r.tablets, r.syncsPerSec,
			ms(r.syncP50), ms(r.syncP99), ms(r.deliveryP99), r.pullsPerSec, r.errors, r.missed, r.rssPerTablet/1024)
	}
	for _, r := range results {
		fmt.Fprintf(&b, "%s: of a sync, the push took p50 %s, p99 %s\n", r.target, ms(r.pushP50), ms(r.pushP99))
	}
	t.Log(b.String())
	for _, r := range results {
		if r.errors > 0 || r.missed > 0 {
			t.Errorf("%s: %d errors and %d changes another tablet of the case never pulled (must both be 0); first errors: %s",
				r.target, r.errors, r.missed, strings.Join(r.firstErrors, "; "))
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// loadResult is what one target measured.
type loadResult struct {
	target       string
	tablets      int
	syncsPerSec  float64
	pullsPerSec  float64
	syncP50      time.Duration
	syncP99      time.Duration
	pushP50      time.Duration // of which the push
	pushP99      time.Duration
	deliveryP99  time.Duration
	errors       int64
	missed       int
	firstErrors  []string
	rssPerTablet float64 // bytes
}

// loadTablet is one simulated tablet: its device, its case, where it has pulled to, and what it
// measured. Only its own goroutine touches its fields while the load runs.
type loadTablet struct {
	idx      int
	caseID   string
	visitID  string
	token    string
	rpc      samvaerv1connect.SyncServiceClient
	stream   samvaerv1connect.SyncServiceClient // the same, without the unary calls' timeout
	seq      int64                              // device_seq of the last change written
	cursor   int64
	mark     int64
	known    []string
	heads    chan int64 // the newest head its Subscribe stream reported
	sawFirst chan struct{}

	syncs     []time.Duration // push + pull, as the tablet waited for them
	pushes    []time.Duration // the push alone
	commits   []stamped       // server seq of each change it pushed, when it got the answer
	received  []stamped       // server seq of each change a pull brought, when the pull answered
	pulls     int
	streamErr error
}

type stamped struct {
	seq int64
	at  time.Time
}

// loadRun holds a target's tablets and its error count.
type loadRun struct {
	cfg     loadConfig
	tablets []*loadTablet
	errs    atomic.Int64
	errMu   sync.Mutex
	first   []string
}

func (r *loadRun) fail(tb *loadTablet, what string, err error) {
	r.errs.Add(1)
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.first) < 5 {
		r.first = append(r.first, fmt.Sprintf("tablet %d: %s: %v", tb.idx, what, err))
	}
}

// runLoad sets up one target (its store, its server processes, the tablets enrolled), connects
// every tablet's Subscribe stream, runs the steady state, and checks every tablet pulled every
// change its case's other tablets committed.
func runLoad(t *testing.T, cfg loadConfig, target string, instances int, sqlite bool) loadResult {
	ctx := context.Background()
	dir := t.TempDir()
	database := ""
	if !sqlite {
		database = databaseFor(t, dir)
	}
	started := time.Now()
	codes, cases, visits := loadSetup(t, cfg, dir, database)
	var procs []*serverProc
	profiles := os.Getenv("SAMVAER_LOAD_PROFILE") // a directory: CPU profiles of the steady state
	for i := range instances {
		s := &serverProc{t: t, dir: dir, addr: "127.0.0.1:0", logs: &syncBuffer{}, sqlite: sqlite, poll: server.DefaultConfig().SubscribePoll}
		if profiles != "" {
			s.profile = filepath.Join(profiles, fmt.Sprintf("%s-%d.pprof", t.Name()[strings.LastIndex(t.Name(), "/")+1:], i))
		}
		s.start()
		t.Cleanup(s.kill)
		procs = append(procs, s)
	}
	// One client for every simulated tablet, allowing a connection per stream and as many for
	// the unary calls in flight.
	transport := &http.Transport{MaxIdleConns: 4 * cfg.tablets, MaxIdleConnsPerHost: 2 * cfg.tablets, IdleConnTimeout: 2 * time.Minute}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: time.Minute}
	streamClient := &http.Client{Transport: transport} // a stream lasts the whole run
	enrollClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: time.Minute}

	// Enroll through clientlib a few at a time, take a token, close the tablet; then pull the
	// case once over the wire, as the tablet's first sync would.
	run := &loadRun{cfg: cfg, tablets: make([]*loadTablet, cfg.tablets)}
	work := make(chan int)
	var wg sync.WaitGroup
	var setupErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				proc := procs[i%len(procs)]
				home := filepath.Join(dir, "tablets", strconv.Itoa(i))
				tab, err := clientlib.Enroll(ctx, home, proc.URL(), codes[i], "load tablet", clientlib.Options{HTTPClient: enrollClient, PIN: testPIN, KDF: testKDF})
				if err != nil {
					setupErr.CompareAndSwap(nil, fmt.Errorf("enroll tablet %d: %w", i, err))
					continue
				}
				tok, err := tab.AccessToken(ctx)
				tab.Close()
				if err != nil {
					setupErr.CompareAndSwap(nil, fmt.Errorf("token of tablet %d: %w", i, err))
					continue
				}
				tb := &loadTablet{idx: i, caseID: cases[i/cfg.perCase], visitID: visits[i], token: tok,
					rpc:    samvaerv1connect.NewSyncServiceClient(client, proc.URL()),
					stream: samvaerv1connect.NewSyncServiceClient(streamClient, proc.URL()), heads: make(chan int64, 1), sawFirst: make(chan struct{})}
				if err := tb.pullAll(ctx, false); err != nil {
					setupErr.CompareAndSwap(nil, fmt.Errorf("first pull of tablet %d: %w", i, err))
					continue
				}
				if !slices.Contains(tb.known, tb.caseID) {
					setupErr.CompareAndSwap(nil, fmt.Errorf("tablet %d's first pull did not complete its case", i))
				}
				run.tablets[i] = tb
			}
		}()
	}
	for i := range cfg.tablets {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := setupErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	transport.CloseIdleConnections()
	enrollClient.CloseIdleConnections()
	t.Logf("%s: %d tablets enrolled and synced in %v", target, cfg.tablets, time.Since(started).Round(time.Second))

	// Memory: the servers' resident set before and with every stream connected.
	time.Sleep(2 * time.Second)
	before := rssOf(t, procs)
	streamCtx, endStreams := context.WithCancel(ctx)
	defer endStreams()
	var streams sync.WaitGroup
	for _, tb := range run.tablets {
		streams.Add(1)
		go func() {
			defer streams.Done()
			tb.subscribe(streamCtx)
		}()
	}
	connected := time.After(2 * time.Minute)
	for _, tb := range run.tablets {
		select {
		case <-tb.sawFirst:
		case <-connected:
			t.Fatalf("%s: tablet %d's Subscribe stream gave no head within two minutes", target, tb.idx)
		}
	}
	time.Sleep(2 * time.Second)
	after := rssOf(t, procs)
	t.Logf("%s: servers' RSS %d MiB before the streams, %d MiB with %d connected", target, before>>20, after>>20, cfg.tablets)

	// The steady state: each tablet syncs every interval (starting at a random point of the
	// first) and pulls when its stream reports a head past its cursor.
	stop := make(chan struct{})
	var loops sync.WaitGroup
	begin := time.Now()
	for _, tb := range run.tablets {
		loops.Add(1)
		go func() {
			defer loops.Done()
			tb.loop(ctx, run, stop)
		}()
	}
	signalProfiles := func() {
		for _, p := range procs {
			if p.profile != "" {
				mustDo(t, p.cmd.Process.Signal(syscall.SIGUSR1))
			}
		}
	}
	signalProfiles() // start
	time.Sleep(cfg.duration)
	signalProfiles() // stop
	close(stop)
	loops.Wait()
	elapsed := time.Since(begin)

	// Drain: every tablet pulls to the head once more, then its case's changes are checked.
	for _, tb := range run.tablets {
		if err := tb.pullAll(ctx, true); err != nil {
			run.fail(tb, "final pull", err)
		}
	}
	endStreams()
	streams.Wait()
	for _, tb := range run.tablets {
		if tb.streamErr != nil {
			run.fail(tb, "subscribe", tb.streamErr)
		}
	}
	return run.result(target, elapsed, after-before)
}

// loadSetup writes the people, cases and visits the tablets belong to, with the store opened as
// `samvaer admin` does, before any server runs: a caseworker, one consultant per tablet, perCase
// consultants per case each with a visit, and an enrollment code per consultant.
func loadSetup(t *testing.T, cfg loadConfig, dir, database string) (codes, cases, visits []string) {
	t.Helper()
	ctx := context.Background()
	st, err := server.OpenStoreOn(dir, database, nil)
	mustDo(t, err)
	defer st.Close()
	_, err = st.AddUser(ctx, "Sara Sagsbehandler", []string{"caseworker"})
	mustDo(t, err)
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	for i := range cfg.tablets {
		name := fmt.Sprintf("Konsulent %04d", i)
		_, err := st.AddUser(ctx, name, []string{"consultant"})
		mustDo(t, err)
		if i%cfg.perCase == 0 {
			c, err := st.AddCase(ctx, server.NewCase{Children: []string{fmt.Sprintf("Barn %03d", i/cfg.perCase)}, Parents: []string{"Forælder"}, Caseworker: "Sara Sagsbehandler"})
			mustDo(t, err)
			cases = append(cases, c)
		}
		v, err := st.AddVisit(ctx, server.NewVisit{CaseID: cases[i/cfg.perCase], Consultant: name, Kind: "supervised",
			Start: start, End: start.Add(2 * time.Hour), Place: "Familiehuset"})
		mustDo(t, err)
		visits = append(visits, v)
		code, _, err := st.NewEnrollmentCode(ctx, name)
		mustDo(t, err)
		codes = append(codes, code)
	}
	return codes, cases, visits
}

// rssOf sums the servers' resident set sizes (VmRSS in /proc/PID/status), in bytes.
func rssOf(t *testing.T, procs []*serverProc) int64 {
	t.Helper()
	var sum int64
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		mustDo(t, err)
		var kib int64
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kib, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				mustDo(t, err)
			}
		}
		if kib == 0 {
			t.Fatalf("no VmRSS for server process %d", p.cmd.Process.Pid)
		}
		sum += kib << 10
	}
	return sum
}

// subscribe holds the tablet's stream until ctx ends, keeping the newest head in tb.heads.
func (tb *loadTablet) subscribe(ctx context.Context) {
	stream, err := tb.stream.Subscribe(ctx, withToken(&v1.SubscribeRequest{Cursor: tb.cursor}, tb.token))
	if err != nil {
		tb.streamErr = err
		close(tb.sawFirst)
		return
	}
	defer stream.Close()
	first := true
	for stream.Receive() {
		head := stream.Msg().Head
		select {
		case tb.heads <- head:
		default:
			select { // replace an unread older head
			case <-tb.heads:
			default:
			}
			tb.heads <- head
		}
		if first {
			close(tb.sawFirst)
			first = false
		}
	}
	if first {
		close(tb.sawFirst)
	}
	if ctx.Err() == nil {
		tb.streamErr = fmt.Errorf("the stream ended: %v", stream.Err())
	} else if err := stream.Err(); err != nil && !errors.Is(err, context.Canceled) && connect.CodeOf(err) != connect.CodeCanceled {
		tb.streamErr = err
	}
}

// loop syncs every interval and pulls when the stream reports something new, until stop.
func (tb *loadTablet) loop(ctx context.Context, run *loadRun, stop <-chan struct{}) {
	next := time.NewTimer(rand.N(run.cfg.interval))
	defer next.Stop()
	for {
		select {
		case <-stop:
			return
		case <-next.C:
			start := time.Now()
			err := tb.push(ctx, run.cfg.changes)
			tb.pushes = append(tb.pushes, time.Since(start))
			if err != nil {
				run.fail(tb, "push", err)
			} else if err := tb.pullAll(ctx, true); err != nil {
				run.fail(tb, "pull after push", err)
			} else {
				tb.syncs = append(tb.syncs, time.Since(start))
			}
			next.Reset(run.cfg.interval)
		case head := <-tb.heads:
			if head > tb.cursor {
				if err := tb.pullAll(ctx, true); err != nil {
					run.fail(tb, "pull on a new head", err)
				}
			}
		}
	}
}

// push sends n new observations on the tablet's visit, as clientlib's outbox would, and notes
// when the answer came for each change's server sequence.
func (tb *loadTablet) push(ctx context.Context, n int) error {
	changes := make([]*v1.Change, n)
	now := uint64(syncer.MakeHLC(time.Now().UnixMilli(), 0))
	for i := range changes {
		tb.seq++
		changes[i] = &v1.Change{DeviceSeq: tb.seq, Op: v1.Op_OP_CREATE, Hlc: now + uint64(i), SchemaVersion: syncer.SchemaVersion,
			Record: &v1.RecordRef{Type: syncer.TypeObservation, Id: syncer.NewID(), CaseId: tb.caseID},
			Fields: []*v1.FieldEdit{{Name: "visit_id", Value: tb.visitID}, {Name: "at_ms", Value: strconv.FormatInt(time.Now().UnixMilli(), 10)}, {Name: "text", Value: benchText}}}
	}
	res, err := tb.rpc.Push(ctx, withToken(&v1.PushRequest{Changes: changes, Cursor: tb.cursor, CursorMark: tb.mark}, tb.token))
	if err != nil {
		return err
	}
	at := time.Now()
	if len(res.Msg.Results) != n {
		return fmt.Errorf("%d results for %d changes", len(res.Msg.Results), n)
	}
	for _, r := range res.Msg.Results {
		if r.Result != v1.Result_RESULT_APPLIED {
			return fmt.Errorf("change %d: %v %s", r.DeviceSeq, r.Result, r.Reason)
		}
		tb.commits = append(tb.commits, stamped{seq: r.ServerSeq, at: at})
	}
	return nil
}

// pullAll pulls pages until the server has no more, noting when each change arrived (record
// false: the first sync, before the load).
func (tb *loadTablet) pullAll(ctx context.Context, record bool) error {
	for {
		res, err := tb.rpc.Pull(ctx, withToken(&v1.PullRequest{Cursor: tb.cursor, CursorMark: tb.mark, KnownCases: tb.known}, tb.token))
		if err != nil {
			return err
		}
		at := time.Now()
		tb.pulls++
		m := res.Msg
		if len(m.PurgeCases) > 0 {
			return fmt.Errorf("the server purged cases %v from the tablet", m.PurgeCases)
		}
		for _, c := range m.CompleteCases {
			if !slices.Contains(tb.known, c) {
				tb.known = append(tb.known, c)
			}
		}
		if record {
			for _, c := range m.Changes {
				tb.received = append(tb.received, stamped{seq: c.Seq, at: at})
			}
		}
		tb.cursor, tb.mark = m.NextCursor, m.NextCursorMark
		if !m.More {
			return nil
		}
	}
}

// result puts the tablets' measurements together. A change committed by one tablet must have
// reached every other tablet of its case by the final pull; the time it took is from when the
// pusher got its answer to when the other tablet's pull answered (0 when the pull came first).
func (r *loadRun) result(target string, elapsed time.Duration, rssGrowth int64) loadResult {
	res := loadResult{target: target, tablets: len(r.tablets), rssPerTablet: float64(rssGrowth) / float64(len(r.tablets))}
	var syncs, pushes, delivery []time.Duration
	pulls := 0
	byCase := map[string][]*loadTablet{}
	for _, tb := range r.tablets {
		syncs = append(syncs, tb.syncs...)
		pushes = append(pushes, tb.pushes...)
		pulls += tb.pulls
		byCase[tb.caseID] = append(byCase[tb.caseID], tb)
	}
	for _, group := range byCase {
		for _, receiver := range group {
			got := make(map[int64]time.Time, len(receiver.received))
			for _, s := range receiver.received {
				if _, dup := got[s.seq]; !dup {
					got[s.seq] = s.at
				}
			}
			for _, pusher := range group {
				if pusher == receiver {
					continue
				}
				for _, c := range pusher.commits {
					at, ok := got[c.seq]
					if !ok {
						res.missed++
						continue
					}
					delivery = append(delivery, max(0, at.Sub(c.at)))
				}
			}
		}
	}
	res.syncsPerSec = float64(len(syncs)) / elapsed.Seconds()
	res.pullsPerSec = float64(pulls) / elapsed.Seconds()
	res.syncP50, res.syncP99 = quantile(syncs, 0.50), quantile(syncs, 0.99)
	res.deliveryP99 = quantile(delivery, 0.99)
	res.pushP50, res.pushP99 = quantile(pushes, 0.50), quantile(pushes, 0.99)
	res.errors = r.errs.Load()
	res.firstErrors = r.first
	return res
}

// quantile is the q-quantile (0.99 for p99) of ds, which it sorts; 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return percentile(ds, q)
}
