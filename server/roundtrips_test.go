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
// lock that every instance's writes wait for: the lock and BEGIN travel with the first read, the
// rows with the audit head's read, the audit entry and the device's row with the commit
// (internal/pgdb). Before the statements were held back (sqltx.Later) it made 16.
func TestPushOfThreeChangesMakesFewRoundTripsOnPostgres(t *testing.T) {
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
	defer store.Close()
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
	if n > 5 {
		t.Errorf("a push of 3 changes made %d round trips to PostgreSQL; the design makes 5: [BEGIN, lock, device, head and the position's mark], [free ids and the visit], the user's roles in the case, [rows, audit head], [audit entry, device row, COMMIT]", n)
	}
}
