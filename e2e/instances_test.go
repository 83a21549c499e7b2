package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/pgtest"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// startInstances runs n servers on one store, each with its own pool, notifier and caches, on
// its own port: on PostgreSQL, n instances on the data directory's database; on SQLite one (a
// SQLite store is served by one server). poll is the Subscribe poll of all but the first (a
// long one leaves only the database's notifications to wake their streams).
func startInstances(t *testing.T, n int, poll time.Duration) []*liveServer {
	t.Helper()
	first := startServer(t)
	all := []*liveServer{first}
	if !pgtest.Enabled() {
		return all
	}
	for len(all) < n {
		s := &liveServer{t: t, dir: first.dir, logs: &syncBuffer{}, poll: poll}
		s.start("127.0.0.1:0")
		t.Cleanup(s.shutdown)
		all = append(all, s)
	}
	return all
}

// commitOrderRuns is how often the commit-order test repeats its race (make test-long: more).
func commitOrderRuns() int {
	if n, err := strconv.Atoi(os.Getenv("RAPID_CHECKS")); err == nil && n/10 > 3 {
		return n / 10
	}
	return 3
}

// Commit order is cursor order. Tablets push concurrently through two instances on PostgreSQL
// (concurrent pushers on one on SQLite) while another device pages through the case's log from a
// third position in small pages, each starting where the last one ended. It must see every change
// exactly once: no sequence number twice, none skipped. (On PostgreSQL, sequence numbers taken by
// concurrent transactions become visible out of order; a cursor that had passed a number still
// uncommitted would skip that change forever. Here every write transaction holds one advisory
// lock, so numbers are assigned and committed in one order.)
func TestCommitOrderIsCursorOrder(t *testing.T) {
	for run := 0; run < commitOrderRuns(); run++ {
		t.Run(fmt.Sprint("run ", run), func(t *testing.T) { commitOrderRun(t) })
	}
}

func commitOrderRun(t *testing.T) {
	ctx := context.Background()
	srvs := startInstances(t, 2, 50*time.Millisecond)
	st := srvs[0].Store()
	consultants := []string{"Kim", "Ane", "Bo", "Eva"}
	_, err := st.AddUser(ctx, "Sara", []string{"caseworker"})
	mustDo(t, err)
	for _, c := range consultants {
		_, err := st.AddUser(ctx, c, []string{"consultant"})
		mustDo(t, err)
	}
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida"}, Parents: []string{"Mette"}, Caseworker: "Sara"})
	mustDo(t, err)
	visits := map[string]string{}
	start := time.Now().Add(-time.Hour)
	for i, c := range consultants {
		at := start.Add(time.Duration(i) * 3 * time.Hour)
		visits[c], err = st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: c, Kind: "supervised", Start: at, End: at.Add(2 * time.Hour), Place: "Rum 2"})
		mustDo(t, err)
	}
	var pushers []*tablet
	for i, c := range consultants {
		tb := enrollTablet(t, srvs[i%len(srvs)], c)
		_, err := tb.Sync(ctx)
		mustDo(t, err)
		pushers = append(pushers, tb)
	}
	reader := enrollTablet(t, srvs[len(srvs)-1], "Kim")
	tok, err := reader.AccessToken(ctx)
	mustDo(t, err)
	pull := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, srvs[len(srvs)-1].URL())

	const rounds, perRound = 6, 3
	done := make(chan struct{})
	errs := make(chan error, len(pushers))
	var wg sync.WaitGroup
	for i, tb := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				for k := 0; k < perRound; k++ {
					if _, err := tb.Observe(ctx, visits[consultants[i]], fmt.Sprintf("%s skriver %d.%d", consultants[i], r, k)); err != nil {
						errs <- err
						return
					}
				}
				if _, err := tb.Sync(ctx); err != nil {
					errs <- fmt.Errorf("%s's sync: %w", consultants[i], err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	var seen []int64
	cursor := int64(0)
	finished := false
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			t.Fatal("the reader never caught up")
		}
		select {
		case <-done:
			finished = true
		default:
		}
		res, err := pull.Pull(ctx, withToken(&v1.PullRequest{Cursor: cursor, MaxChanges: 2, KnownCases: []string{caseID}}, tok))
		mustDo(t, err)
		for _, c := range res.Msg.Changes {
			if n := len(seen); n > 0 && c.Seq <= seen[n-1] {
				t.Fatalf("change %d after change %d: a page went back", c.Seq, seen[n-1])
			}
			seen = append(seen, c.Seq)
		}
		if res.Msg.NextCursor < cursor {
			t.Fatalf("the cursor went back from %d to %d", cursor, res.Msg.NextCursor)
		}
		cursor = res.Msg.NextCursor
		if finished && !res.Msg.More {
			break // this page began after every push had committed, and reached the head
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// What the log holds for the case, read from the database itself.
	rows, err := rawServerDB(t, srvs[0].dir).Query(`SELECT seq FROM changes WHERE case_id = ? AND effect IS NOT NULL ORDER BY seq`, caseID)
	mustDo(t, err)
	var want []int64
	for rows.Next() {
		var seq int64
		mustDo(t, rows.Scan(&seq))
		want = append(want, seq)
	}
	mustDo(t, rows.Err())
	rows.Close()
	if len(want) < len(consultants)*rounds*perRound {
		t.Fatalf("the log holds %d changes of the case, fewer than the %d observations written", len(want), len(consultants)*rounds*perRound)
	}
	if !slices.Equal(seen, want) {
		var missed []int64
		for _, s := range want {
			if !slices.Contains(seen, s) {
				missed = append(missed, s)
			}
		}
		t.Fatalf("the reader saw %d changes, the log holds %d; never seen: %v", len(seen), len(want), missed)
	}
}

// Several instances on one PostgreSQL database are one server: a tablet pushes to one and the
// other's tablet pulls it; a Subscribe stream on one hears a commit on the other (the other polls
// only hourly, so the database's notification is what wakes it); a device revoked through one is
// refused by the other at once; failed sign-ins counted by one block on the other; a browser
// session begun on one is valid on the other and ended for both; a token signed with a signing
// key rotated in by one is accepted by the other; a value sealed under a KEK rotated in by one is
// read by the other.
func TestInstancesAreOneServer(t *testing.T) {
	if !pgtest.Enabled() {
		t.Skip("several instances need the PostgreSQL store (a SQLite store has one server); the PostgreSQL pass of make test runs this")
	}
	ctx := context.Background()
	srvs := startInstances(t, 2, time.Hour)
	a, b := srvs[0], srvs[1]
	st := a.Store()
	for _, u := range []string{"Kim", "Ane"} {
		_, err := st.AddUser(ctx, u, []string{"consultant"})
		mustDo(t, err)
	}
	_, err := st.AddUser(ctx, "Sara", []string{"caseworker"})
	mustDo(t, err)
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida"}, Parents: []string{"Mette"}, Caseworker: "Sara"})
	mustDo(t, err)
	at := time.Now().Add(-time.Hour)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "Kim", Kind: "supervised", Start: at, End: at.Add(2 * time.Hour), Place: "Rum 2"})
	mustDo(t, err)
	mustDo(t, st.AssignCase(ctx, server.Actor{}, caseID, "Ane", "consultant"))
	onA := enrollTablet(t, a, "Kim")
	onB := enrollTablet(t, b, "Ane")
	for _, tb := range []*tablet{onA, onB} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}

	// Subscribe on B, push on A.
	tok, err := onB.AccessToken(ctx)
	mustDo(t, err)
	status, err := onB.Status(ctx)
	mustDo(t, err)
	streamCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stream, err := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, b.URL()).Subscribe(streamCtx, withToken(&v1.SubscribeRequest{Cursor: status.Cursor}, tok))
	mustDo(t, err)
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("Subscribe on B: %v", stream.Err())
	}
	_, err = onA.Observe(ctx, visitID, "Ida tegner et hus.")
	mustDo(t, err)
	_, err = onA.Sync(ctx)
	mustDo(t, err)
	if !stream.Receive() || stream.Msg().Head <= status.Cursor {
		t.Fatalf("B's stream did not hear A's commit: %v %v", stream.Msg(), stream.Err())
	}
	_, err = onB.Sync(ctx)
	mustDo(t, err)
	v, err := onB.Visit(ctx, visitID)
	mustDo(t, err)
	if len(v.Observations) != 1 || v.Observations[0].Text != "Ida tegner et hus." {
		t.Fatalf("B's tablet holds %+v", v.Observations)
	}

	// A token signed with a key rotated in through A is accepted by B.
	_, err = st.RotateSigningKey(ctx)
	mustDo(t, err)
	late := enrollTablet(t, a, "Kim")
	lateTok, err := late.AccessToken(ctx)
	mustDo(t, err)
	mustDo(t, pullWith(b, lateTok))

	// A device revoked through A is refused by B at once, with its still unexpired token.
	mustDo(t, pullWith(b, tok))
	_, err = st.RevokeDevice(ctx, server.Actor{}, onB.DeviceID(), server.DeviceLost)
	mustDo(t, err)
	if err := pullWith(b, tok); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("B served a device revoked through A: %v", err)
	}

	// Failed sign-ins counted by A block on B.
	mustDo(t, st.SetPassword(ctx, server.Actor{}, "Sara", "rigtig-adgangskode-1"))
	for i := 0; i < server.DefaultSignInPolicy().MaxFailures; i++ {
		if _, err := st.SignInFrom(ctx, "Sara", "forkert", "192.0.2.7"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
			t.Fatalf("wrong password %d on A: %v", i, err)
		}
	}
	if _, err := b.Store().SignInFrom(ctx, "Sara", "rigtig-adgangskode-1", "198.51.100.9"); err == nil {
		t.Fatal("B let in a name A had blocked")
	}
	_, err = st.UnblockSignIn(ctx, server.Actor{}, "Sara", "")
	mustDo(t, err)
	sara, err := b.Store().SignInFrom(ctx, "Sara", "rigtig-adgangskode-1", "198.51.100.9")
	mustDo(t, err)

	// A browser session begun on B is valid on A, and ended through A for both.
	session, _, err := b.Store().NewSession(ctx, sara.ID)
	mustDo(t, err)
	if _, err := st.Session(ctx, session); err != nil {
		t.Fatalf("A does not know B's session: %v", err)
	}
	mustDo(t, st.EndSession(ctx, session))
	if _, err := b.Store().Session(ctx, session); err == nil {
		t.Fatal("B kept a session ended through A")
	}

	// A value sealed under a KEK rotated in through A opens on B.
	t.Setenv(server.KEKEnv, "")
	_, err = st.RotateKEK(ctx)
	mustDo(t, err)
	_, err = onA.Observe(ctx, visitID, "Far kommer ind.")
	mustDo(t, err)
	_, err = onA.Sync(ctx)
	mustDo(t, err)
	other := enrollTablet(t, b, "Kim")
	_, err = other.Sync(ctx)
	mustDo(t, err)
	if v, err := other.Visit(ctx, visitID); err != nil || len(v.Observations) != 2 {
		t.Fatalf("B read back %+v, %v", v, err)
	}
}
