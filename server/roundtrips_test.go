package server

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/pgtest"
)

// exchangeCounter is a TCP proxy to PostgreSQL that counts round trips: each time a client
// sends after PostgreSQL has answered (or first), on any connection through it.
type exchangeCounter struct {
	ln    net.Listener
	count atomic.Int64
	wg    sync.WaitGroup
}

func newExchangeCounter(tb testing.TB, target string) *exchangeCounter {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &exchangeCounter{ln: ln}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			var answered atomic.Bool
			answered.Store(true)
			p.wg.Add(2)
			go p.pipe(server, client, func() {
				if answered.Swap(false) {
					p.count.Add(1)
				}
			})
			go p.pipe(client, server, func() { answered.Store(true) })
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return p
}

func (p *exchangeCounter) pipe(to, from net.Conn, onData func()) {
	defer p.wg.Done()
	defer to.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			onData()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				from.Close()
			}
			return
		}
	}
}

// TestPushOfThreeChangesMakesFewRoundTripsOnPostgres counts what a tablet's push of three
// observations costs in round trips to PostgreSQL, every one of them made holding the write
// lock that every instance's writes wait for: the lock and BEGIN travel with the first read
// (pushStart), the rows, the audit entry and the device's row with the commit (internal/pgdb).
// Before the statements were held back (sqltx.Later) it made 16; before pushStart, 5.
func TestPushOfThreeChangesMakesFewRoundTripsOnPostgres(t *testing.T) {
	f, proxy, store := countedStore(t)
	ctx := context.Background()
	var seq int64
	push := func() int64 {
		t.Helper()
		head := must(store.Head(ctx))
		mark, _, err := markAt(ctx, store.read, head)
		if err != nil {
			t.Fatal(err)
		}
		var changes []*v1.Change
		for range 3 {
			seq++
			changes = append(changes, f.observation(seq, "Mor og barn leger med klodser."))
		}
		before := proxy.count.Load()
		results, err := store.PushAt(ctx, f.tablet, head, mark, changes)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Result == v1.Result_RESULT_REJECTED {
				t.Fatalf("change %d rejected: %s", r.DeviceSeq, r.Reason)
			}
		}
		return proxy.count.Load() - before
	}
	push() // the connection's statement cache learns the push's statements
	push()
	n := push()
	t.Logf("a push of 3 changes: %d round trips", n)
	if n > 2 {
		t.Errorf("a push of 3 changes made %d round trips to PostgreSQL; the design makes 2: [BEGIN, lock, device, head, the position's mark, the audit chain's tail, the user's roles in the case, free ids and the visit], [rows, audit entry, device row, COMMIT]", n)
	}
}

// countedStore is a fixture whose store reaches PostgreSQL through an exchangeCounter.
func countedStore(t *testing.T) (*fixture, *exchangeCounter, *Store) {
	t.Helper()
	if !pgtest.Enabled() {
		t.Skip("counts round trips to PostgreSQL: set " + pgtest.Env)
	}
	f := newFixture(t)
	u, err := url.Parse(pgtest.DatabaseFor(t, f.dir))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newExchangeCounter(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	store, err := OpenStoreOn(f.dir, u.String(), f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return f, proxy, store
}

// TestPullOfANewChangeMakesFewRoundTripsOnPostgres counts what a tablet's pull of the changes
// another tablet of its case just made costs: in the load test every sync wakes the case's other
// tablets, so pulls are most of what PostgreSQL answers. In a transaction it made 7, then 3.
func TestPullOfANewChangeMakesFewRoundTripsOnPostgres(t *testing.T) {
	f, proxy, store := countedStore(t)
	ctx := context.Background()
	cursor := int64(0)
	var known []string
	var mark int64
	pull := func() (int64, *v1.PullResponse) {
		t.Helper()
		before := proxy.count.Load()
		res, err := store.Pull(ctx, f.tablet, &v1.PullRequest{Cursor: cursor, CursorMark: mark, KnownCases: known})
		if err != nil {
			t.Fatal(err)
		}
		n := proxy.count.Load() - before
		cursor, mark = res.NextCursor, res.NextCursorMark
		known = append(known, res.CompleteCases...)
		return n, res
	}
	pull()
	pull() // the connection's statement cache learns the pull's statements
	var seq int64
	for round := range 2 {
		var changes []*v1.Change
		for range 3 {
			seq++
			changes = append(changes, f.observation(seq, "Mor og barn leger med klodser."))
		}
		if _, err := store.Push(ctx, f.tablet, changes); err != nil {
			t.Fatal(err)
		}
		n, res := pull()
		if len(res.Changes) != 3 || res.More {
			t.Fatalf("round %d: the pull brought %d changes (more: %v); want the 3 just pushed", round, len(res.Changes), res.More)
		}
		t.Logf("a pull of 3 new changes: %d round trips", n)
		if round == 1 && n > 1 {
			t.Errorf("a pull of 3 new changes made %d round trips to PostgreSQL; the design makes 1: one statement with the log's head and marks, the device, the user's cases and the page (quickPull)", n)
		}
	}
}
