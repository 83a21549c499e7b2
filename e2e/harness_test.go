package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// liveServer is the real server on a loopback port that a test can stop and start again on the
// same address and data directory.
type liveServer struct {
	t    testing.TB
	dir  string
	addr string
	logs *syncBuffer
	poll time.Duration // Subscribe's poll; 0 for the tests' 50 ms
	srv  *server.Server
	stop context.CancelFunc
	// pages configures the pages from the server's address (nil: the defaults).
	pages func(url string) web.Config
	done  chan error
}

// startServer runs a server with a new data directory on a free loopback port.
func startServer(t testing.TB) *liveServer {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith starts a server whose pages are configured by pages, given the server's
// address (nil: the defaults).
func startServerWith(t testing.TB, pages func(url string) web.Config) *liveServer {
	t.Helper()
	s := &liveServer{t: t, dir: t.TempDir(), logs: &syncBuffer{}, pages: pages}
	s.start("127.0.0.1:0")
	t.Cleanup(s.shutdown)
	return s
}

func (s *liveServer) start(addr string) {
	s.t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = s.dir
	cfg.Database = databaseFor(s.t, s.dir)
	cfg.Listen = addr
	cfg.SubscribePoll = 50 * time.Millisecond
	if s.poll > 0 {
		cfg.SubscribePoll = s.poll
	}
	cfg.Logger = zerolog.New(s.logs)
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the old listener's port is being released
	}
	if err != nil {
		srv.Close()
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	wcfg := web.Config{Logger: cfg.Logger}
	if s.pages != nil {
		wcfg = s.pages(s.URL())
		wcfg.Logger = cfg.Logger
	}
	pages, err := web.New(srv.Store, wcfg)
	if err != nil {
		ln.Close()
		srv.Close()
		s.t.Fatal(err)
	}
	srv.Mount("/", pages) // as samvaer serve does
	ctx, cancel := context.WithCancel(context.Background())
	s.srv, s.stop, s.done = srv, cancel, make(chan error, 1)
	go func() { s.done <- srv.Serve(ctx, ln) }()
}

// URL is the server's base URL.
func (s *liveServer) URL() string { return "http://" + s.addr }

// Store is the running server's store, for admin actions a test takes as an admin would.
func (s *liveServer) Store() *server.Store { return s.srv.Store }

// restart stops the server gracefully and starts it again on the same address and data.
func (s *liveServer) restart() {
	s.t.Helper()
	s.shutdown()
	s.start(s.addr)
}

func (s *liveServer) shutdown() {
	if s.stop == nil {
		return
	}
	s.stop()
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.t.Errorf("server shutdown: %v", err)
	}
	s.stop = nil
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// flaky is an http.RoundTripper that can lose responses (the server did the work, the tablet
// never hears) and replay earlier requests late (a duplicated, reordered push).
type flaky struct {
	mu   sync.Mutex
	next http.RoundTripper
	lose int // how many of the next responses to lose
	// loseOnly, when set, limits losing to requests whose path ends with it.
	loseOnly string
	pushes   []recorded
}

type recorded struct {
	url    string
	header http.Header
	body   []byte
}

func newFlaky() *flaky {
	return &flaky{next: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Second}}
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	f.mu.Lock()
	lose := f.lose > 0 && strings.HasSuffix(req.URL.Path, f.loseOnly)
	if lose {
		f.lose--
	}
	if strings.HasSuffix(req.URL.Path, "/Push") {
		f.pushes = append(f.pushes, recorded{url: req.URL.String(), header: req.Header.Clone(), body: body})
	}
	f.mu.Unlock()
	res, err := f.next.RoundTrip(req)
	if err != nil || !lose {
		return res, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return nil, errors.New("flaky: response lost")
}

// replay sends the i-th recorded push again and ignores the answer.
func (f *flaky) replay(i int) {
	f.mu.Lock()
	if len(f.pushes) == 0 {
		f.mu.Unlock()
		return
	}
	r := f.pushes[i%len(f.pushes)]
	f.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(string(r.body)))
	if err != nil {
		return
	}
	req.Header = r.header.Clone()
	if res, err := f.next.RoundTrip(req); err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

func (f *flaky) close() {
	if t, ok := f.next.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// testPIN opens every test tablet; testKDF keeps Argon2id cheap (the default costs about 0.1 s
// and 64 MiB per unlock, on purpose, and property tests enroll many tablets).
const testPIN = "1357"

var testKDF = clientlib.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

// tablet is a clientlib tablet with its home and transport.
type tablet struct {
	t    testing.TB
	home string
	net  *flaky
	opts clientlib.Options
	*clientlib.Tablet
}

// enrollTablet enrolls a new tablet for user on the live server.
func enrollTablet(t testing.TB, s *liveServer, user string) *tablet {
	t.Helper()
	ctx := context.Background()
	code, _, err := s.Store().NewEnrollmentCode(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	tb := &tablet{t: t, home: t.TempDir(), net: newFlaky()}
	tb.opts = clientlib.Options{HTTPClient: &http.Client{Transport: tb.net, Timeout: 30 * time.Second},
		PIN: testPIN, KDF: testKDF}
	tb.Tablet, err = clientlib.Enroll(ctx, tb.home, s.URL(), code, "test tablet", tb.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close(); tb.net.close() })
	return tb
}

// restart closes the tablet's database and opens it again, as after the app was killed.
func (tb *tablet) restart() {
	tb.t.Helper()
	if err := tb.Close(); err != nil {
		tb.t.Fatal(err)
	}
	var err error
	if tb.Tablet, err = clientlib.Open(tb.home, tb.opts); err != nil {
		tb.t.Fatal(err)
	}
}
