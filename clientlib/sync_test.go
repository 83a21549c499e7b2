package clientlib

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/syncer"
)

// fakeServer is a small stand-in for the sync server: it checks what a tablet sends (signatures,
// tokens, headers, sequence order) and answers as the protocol says, keeping a log of effects. It
// does not merge: every change is applied as sent, except the seq it is told to reject.
type fakeServer struct {
	t     *testing.T
	clock func() time.Time // the server's clock

	mu        sync.Mutex
	pub       ed25519.PublicKey
	device    string
	code      string
	tokens    int
	tokenTTL  time.Duration
	refuse    string // an access token refused once, as after a server key change
	lastSeq   int64
	results   map[int64]*v1.ChangeResult
	rejectSeq int64
	log       []*v1.CommittedChange
	head      int64
	pushed    [][]int64 // device seqs per push
	calls     []http.Header
}

func newFakeServer(t *testing.T, clock func() time.Time) (*fakeServer, *httptest.Server) {
	fs := &fakeServer{t: t, clock: clock, code: "ABCD-EFGH", tokenTTL: 5 * time.Minute, results: map[int64]*v1.ChangeResult{}}
	mux := http.NewServeMux()
	mux.Handle(samvaerv1connect.NewAuthServiceHandler(fs))
	mux.Handle(samvaerv1connect.NewSyncServiceHandler(fs))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return fs, srv
}

func (s *fakeServer) nowMs() int64 { return s.clock().UnixMilli() }

func (s *fakeServer) Enroll(_ context.Context, req *connect.Request[v1.EnrollRequest]) (*connect.Response[v1.EnrollResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Msg.Code != s.code {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("The enrollment code is unknown, used or expired; ask an admin for a new one."))
	}
	s.code = "" // one-time
	s.pub, s.device = req.Msg.PublicKey, syncer.NewID()
	return connect.NewResponse(&v1.EnrollResponse{DeviceId: s.device, UserId: syncer.NewID(), UserName: "Kim", ServerTimeMs: s.nowMs()}), nil
}

func (s *fakeServer) Token(_ context.Context, req *connect.Request[v1.TokenRequest]) (*connect.Response[v1.TokenResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := req.Msg
	if m.DeviceId != s.device || !ed25519.Verify(s.pub, syncer.TokenSigningPayload(m.DeviceId, m.Nonce, m.TimeMs), m.Signature) {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("The token request was refused."))
	}
	if d := s.nowMs() - m.TimeMs; d > 120_000 || d < -120_000 {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("The token request is too old or timed in the future; check the tablet's clock."))
	}
	s.tokens++
	return connect.NewResponse(&v1.TokenResponse{
		AccessToken: fmt.Sprintf("tok-%d", s.tokens), ExpiresMs: s.nowMs() + s.tokenTTL.Milliseconds(), ServerTimeMs: s.nowMs(),
	}), nil
}

// authorize checks the bearer token (the newest one issued) and that the request is not
// compressed.
func (s *fakeServer) authorize(h http.Header) error {
	s.calls = append(s.calls, h.Clone())
	tok, _ := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if tok != "" && tok == s.refuse {
		s.refuse = ""
		return connect.NewError(connect.CodeUnauthenticated, errors.New("The access token is not from this server."))
	}
	if tok != fmt.Sprintf("tok-%d", s.tokens) {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("The access token is missing or expired."))
	}
	if enc := h.Get("Content-Encoding"); enc != "" {
		s.t.Errorf("request sent with Content-Encoding %q", enc)
	}
	return nil
}

func (s *fakeServer) Push(_ context.Context, req *connect.Request[v1.PushRequest]) (*connect.Response[v1.PushResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authorize(req.Header()); err != nil {
		return nil, err
	}
	var seqs []int64
	res := &v1.PushResponse{}
	for _, c := range req.Msg.Changes {
		seqs = append(seqs, c.DeviceSeq)
		if err := syncer.ValidateChange(c, s.nowMs()); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		if r, ok := s.results[c.DeviceSeq]; ok {
			res.Results = append(res.Results, r)
			continue
		}
		if c.DeviceSeq != s.lastSeq+1 {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("Changes %d to %d from this tablet never reached the server.", s.lastSeq+1, c.DeviceSeq-1))
		}
		s.lastSeq = c.DeviceSeq
		r := &v1.ChangeResult{DeviceSeq: c.DeviceSeq, Result: v1.Result_RESULT_APPLIED}
		if c.DeviceSeq == s.rejectSeq {
			r.Result, r.Reason = v1.Result_RESULT_REJECTED, fmt.Sprintf("Change %d is for a case this tablet's user is not assigned to.", c.DeviceSeq)
		} else {
			eff := &v1.CommittedChange{Record: c.Record}
			for _, e := range c.Fields {
				eff.Fields = append(eff.Fields, &v1.Field{Name: e.Name, Value: e.Value, Hlc: c.Hlc, DeviceId: s.device})
			}
			s.head++
			syncer.Stamp(eff, s.head)
			s.log = append(s.log, eff)
			r.ServerSeq = s.head
		}
		s.results[c.DeviceSeq] = r
		res.Results = append(res.Results, r)
	}
	s.pushed = append(s.pushed, seqs)
	res.ServerTimeMs = s.nowMs()
	return connect.NewResponse(res), nil
}

func (s *fakeServer) Pull(_ context.Context, req *connect.Request[v1.PullRequest]) (*connect.Response[v1.PullResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authorize(req.Header()); err != nil {
		return nil, err
	}
	res := &v1.PullResponse{NextCursor: s.head, ServerTimeMs: s.nowMs()}
	for _, ch := range s.log {
		if ch.Seq <= req.Msg.Cursor {
			continue
		}
		if len(res.Changes) == int(req.Msg.MaxChanges) {
			res.More, res.NextCursor = true, res.Changes[len(res.Changes)-1].Seq
			break
		}
		res.Changes = append(res.Changes, ch)
	}
	return connect.NewResponse(res), nil
}

func (s *fakeServer) Subscribe(context.Context, *connect.Request[v1.SubscribeRequest], *connect.ServerStream[v1.SubscribeResponse]) error {
	return connect.NewError(connect.CodeUnimplemented, nil)
}

// lossy is a transport that can lose responses to a path: the server did the work, the tablet
// never hears of it.
type lossy struct {
	mu    sync.Mutex
	lose  string
	skip  int // responses to let through first
	times int // responses to lose
}

func (l *lossy) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	l.mu.Lock()
	lose := l.lose != "" && strings.HasSuffix(req.URL.Path, l.lose)
	if lose && l.skip > 0 {
		l.skip, lose = l.skip-1, false
	}
	if lose {
		if l.times--; l.times <= 0 {
			l.lose = ""
		}
	}
	l.mu.Unlock()
	if err != nil || !lose {
		return res, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return nil, errors.New("response lost")
}

// loseNext loses the response to path after skip have gone through, and to the tablet's one
// retry of it: the sync fails.
func (l *lossy) loseNext(path string, skip int) { l.loseTimes(path, skip, 2) }

func (l *lossy) loseTimes(path string, skip, times int) {
	l.mu.Lock()
	l.lose, l.skip, l.times = path, skip, times
	l.mu.Unlock()
}

// syncFixture is a fixture whose tablet talks to a fake server whose clock is an hour ahead.
func syncFixture(t *testing.T) (*fixture, *fakeServer, *lossy) {
	t.Helper()
	clock := newTestClock()
	net := &lossy{}
	fs, srv := newFakeServer(t, func() time.Time { return clock.Now().Add(time.Hour) })
	f := newFixtureAt(t, srv.URL, clock, Options{HTTPClient: &http.Client{Transport: net}, PageChanges: 2, PushBatch: 2})
	fs.pub, fs.device, fs.head = f.key.Public().(ed25519.PublicKey), f.device, f.seq
	// The tablet's clock was corrected at enrollment: it is an hour behind the server's.
	ctx := context.Background()
	must(t, f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return setMeta(ctx, tx, metaClockOffset, itoa(time.Hour.Milliseconds()))
	}))
	f.reopen()
	return f, fs, net
}

// A sync gets a token with a signed request, pushes the outbox in order and in batches, and pulls
// page by page until the server has no more; the tablet's clock is corrected by the server's.
func TestSyncPushesThenPulls(t *testing.T) {
	ctx := context.Background()
	f, fs, _ := syncFixture(t)
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida."))
	o, err := f.tab.Observe(ctx, f.visitID, "Ida griner.")
	must(t, err)
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", true))
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida og Bo."))
	must(t, f.tab.Check(ctx, f.visitID, "parents_briefed", true))
	fs.rejectSeq = 2

	r, err := f.tab.Sync(ctx)
	must(t, err)
	if want := (SyncResult{Pushed: 5, Applied: 4, Rejected: 1, Pulled: 4}); r != want {
		t.Fatalf("sync %+v, want %+v", r, want)
	}
	if fmt.Sprint(fs.pushed) != "[[1 2] [3 4] [5]]" {
		t.Fatalf("pushes %v, want batches of 2 in seq order", fs.pushed)
	}
	if fs.tokens != 1 {
		t.Fatalf("%d token requests, want 1", fs.tokens)
	}
	if s := f.status(); s.Pending != 0 || s.Awaiting != 0 || s.DeadLetters != 1 || s.Cursor != fs.head ||
		s.LastSyncMs != f.clock.Now().Add(time.Hour).UnixMilli() {
		t.Fatalf("status %+v", s)
	}
	if got := f.meta(metaClockOffset); got != time.Hour.Milliseconds() {
		t.Fatalf("clock offset %d, want an hour", got)
	}
	if got := f.section("interaction"); got != "Mor læser en bog for Ida og Bo." || !f.checked("room_ready") || !f.checked("parents_briefed") {
		t.Fatalf("after sync: section %q", got)
	}
	if v := f.visit(); len(v.Observations) != 0 {
		t.Fatalf("the rejected observation %s is shown: %+v", o.ID, v.Observations)
	}
	if syncer.Value(f.record(f.reportID), "interaction") != "Mor læser en bog for Ida og Bo." {
		t.Fatal("the confirmed state does not hold the pushed edit")
	}

	// A second sync with nothing to do reuses the token; a sync after it expired gets a new one.
	r, err = f.tab.Sync(ctx)
	must(t, err)
	if r != (SyncResult{}) || fs.tokens != 1 {
		t.Fatalf("idle sync %+v with %d tokens", r, fs.tokens)
	}
	f.clock.Add(fs.tokenTTL - 20*time.Second)
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if fs.tokens != 2 {
		t.Fatalf("%d token requests, want a new token near expiry", fs.tokens)
	}
	// A token the server no longer accepts is replaced once.
	fs.refuse = "tok-2"
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if fs.tokens != 3 {
		t.Fatalf("%d token requests, want a new one after a refusal", fs.tokens)
	}
	for _, h := range fs.calls {
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer tok-") {
			t.Fatalf("call without a bearer token: %v", h)
		}
	}
}

// A push whose response is lost leaves the changes unacknowledged; the next sync sends them again
// and the server answers with its first results. A lost pull resumes from the stored cursor.
func TestSyncRecoversFromLostResponses(t *testing.T) {
	ctx := context.Background()
	f, fs, net := syncFixture(t)
	for _, text := range []string{"en", "to", "tre"} {
		_, err := f.tab.Observe(ctx, f.visitID, marker+text)
		must(t, err)
	}
	net.loseNext("/Push", 0)
	_, err := f.tab.Sync(ctx)
	e := wantCode(t, err, syncer.CodeUnavailable)
	if e.Message != offlineMessage || strings.Contains(err.Error(), marker) {
		t.Fatalf("error %q", err)
	}
	if s := f.status(); s.Pending != 3 || fs.lastSeq != 2 {
		t.Fatalf("status %+v after a lost push; server saw up to %d", s, fs.lastSeq)
	}
	if got := len(f.visit().Observations); got != 3 {
		t.Fatalf("%d observations shown after a lost push", got)
	}

	net.loseNext("/Pull", 1)
	_, err = f.tab.Sync(ctx)
	wantCode(t, err, syncer.CodeUnavailable)
	// The first page was applied before the second was lost.
	if s := f.status(); s.Pending != 0 || s.Cursor != fs.head-1 || s.Awaiting != 1 {
		t.Fatalf("status %+v after a lost pull page", s)
	}
	r, err := f.tab.Sync(ctx)
	must(t, err)
	if r.Pulled != 1 || r.Pushed != 0 {
		t.Fatalf("resumed sync %+v", r)
	}
	if s := f.status(); s.Pending != 0 || s.Awaiting != 0 || s.Cursor != fs.head {
		t.Fatalf("status %+v", s)
	}
	if v := f.visit(); len(v.Observations) != 3 {
		t.Fatalf("observations %+v", v.Observations)
	}
	if fmt.Sprint(fs.pushed) != "[[1 2] [1 2] [1 2] [3]]" {
		t.Fatalf("pushes %v", fs.pushed)
	}
}

// One lost response (a connection the server closed) costs a retry, not a failed sync: push and
// pull are safe to repeat.
func TestSyncRetriesOnceAfterALostResponse(t *testing.T) {
	ctx := context.Background()
	f, fs, net := syncFixture(t)
	_, err := f.tab.Observe(ctx, f.visitID, marker)
	must(t, err)
	net.loseTimes("/Push", 0, 1)
	if _, err := f.tab.Sync(ctx); err != nil {
		t.Fatalf("a sync with one lost response failed: %v", err)
	}
	if s := f.status(); s.Pending != 0 || s.Awaiting != 0 {
		t.Fatalf("status %+v", s)
	}
	if fmt.Sprint(fs.pushed) != "[[1] [1]]" {
		t.Fatalf("pushes %v; want the change sent twice and applied once", fs.pushed)
	}
}

// A tablet whose clock is far off the server's learns the server's time from the Date header of
// a refused token request and tries again.
func TestTokenCorrectsAFarOffClock(t *testing.T) {
	ctx := context.Background()
	// The server's clock is the real one (net/http writes the Date header from it); the tablet's
	// is an hour behind and has no offset yet.
	clock := &testClock{now: time.Now().Add(-time.Hour)}
	fs, srv := newFakeServer(t, time.Now)
	f := newFixtureAt(t, srv.URL, clock, Options{})
	fs.pub, fs.device, fs.head = f.key.Public().(ed25519.PublicKey), f.device, f.seq
	_, err := f.tab.Sync(ctx)
	must(t, err)
	if fs.tokens != 1 {
		t.Fatalf("%d tokens", fs.tokens)
	}
	if off := f.meta(metaClockOffset); off < time.Hour.Milliseconds()-5000 || off > time.Hour.Milliseconds()+5000 {
		t.Fatalf("clock offset %d, want about an hour", off)
	}
}

// Failures of the server or the network become *syncer.Error with the same meaning and the
// server's sentence.
func TestWireErrors(t *testing.T) {
	tests := []struct {
		err  error
		code syncer.Code
		msg  string
	}{
		{connect.NewError(connect.CodeUnauthenticated, errors.New("This tablet's access has been revoked.")), syncer.CodeUnauthenticated, "This tablet's access has been revoked."},
		{connect.NewError(connect.CodeFailedPrecondition, errors.New("Update the app.")), syncer.CodeFailedPrecondition, "Update the app."},
		{connect.NewError(connect.CodeInvalidArgument, errors.New("Change 3 sets field \"x\" twice.")), syncer.CodeInvalid, "Change 3 sets field \"x\" twice."},
		{connect.NewError(connect.CodeResourceExhausted, errors.New("Too many.")), syncer.CodeResourceExhausted, "Too many."},
		{connect.NewError(connect.CodePermissionDenied, nil), syncer.CodePermissionDenied, "The server refused to push (permission_denied)."},
		{connect.NewError(connect.CodeUnavailable, errors.New("dial tcp: connection refused")), syncer.CodeUnavailable, offlineMessage},
		{connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded), syncer.CodeUnavailable, offlineMessage},
		{connect.NewError(connect.CodeCanceled, context.Canceled), syncer.CodeUnavailable, cancelledMessage},
		{connect.NewError(connect.CodeUnknown, errors.New("garbled")), syncer.CodeInternal, "garbled"},
	}
	for _, tt := range tests {
		err := wireError("push", tt.err)
		if syncer.ErrorCode(err) != tt.code || syncer.ErrorMessage(err) != tt.msg {
			t.Errorf("%v → %s %q, want %s %q", tt.err, syncer.ErrorCode(err), syncer.ErrorMessage(err), tt.code, tt.msg)
		}
	}

	// A server that is not there.
	f := newFixture(t, Options{HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	_, err := f.tab.Sync(context.Background())
	if e := wantCode(t, err, syncer.CodeUnavailable); e.Message != offlineMessage {
		t.Fatalf("message %q", e.Message)
	}
}

// A connection cut in the middle of the server's answer (a proxy, a server that died) is the
// tablet's usual "cannot be reached; your changes are kept", not "read message: unexpected EOF",
// for enrolling, the token, and a push; the change stays pending and goes at the next sync.
func TestADroppedConnectionKeepsTheChanges(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		// Headers promising 200 bytes, then 7 of them, then the connection closes.
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\nContent-Length: 200\r\n\r\n\x0a\x05abcde")
		buf.Flush()
		conn.Close()
	}))
	t.Cleanup(drop.Close)
	hc := &http.Client{Timeout: 5 * time.Second}

	_, err := Enroll(ctx, filepath.Join(t.TempDir(), "tablet"), drop.URL, "CODE", "iPad", Options{PIN: testPIN, KDF: testKDF, HTTPClient: hc})
	if e := wantCode(t, err, syncer.CodeUnavailable); e.Message != offlineMessage {
		t.Fatalf("enroll over a dropped connection: %q", e.Message)
	}
	f := newFixtureAt(t, drop.URL, newTestClock(), Options{HTTPClient: hc})
	_, err = f.tab.Observe(ctx, f.visitID, marker)
	must(t, err)
	_, err = f.tab.Sync(ctx)
	if e := wantCode(t, err, syncer.CodeUnavailable); e.Message != offlineMessage || strings.Contains(err.Error(), marker) {
		t.Fatalf("sync over a dropped connection: %q", err)
	}
	if s := f.status(); s.Pending != 1 {
		t.Fatalf("status %+v after a dropped connection; the change must stay pending", s)
	}

	// A push whose answer is cut off is one lost response: retried once, then the sync fails as
	// offline with the change still pending.
	fs, srv := newFakeServer(t, time.Now)
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Push") {
			drop.Config.Handler.ServeHTTP(w, r)
			return
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(cut.Close)
	g := newFixtureAt(t, cut.URL, newTestClock(), Options{HTTPClient: hc})
	fs.pub, fs.device, fs.head = g.key.Public().(ed25519.PublicKey), g.device, g.seq
	_, err = g.tab.Observe(ctx, g.visitID, marker)
	must(t, err)
	before := calls.Load()
	_, err = g.tab.Sync(ctx)
	if e := wantCode(t, err, syncer.CodeUnavailable); e.Message != offlineMessage {
		t.Fatalf("a push cut off: %q", err)
	}
	if n := calls.Load() - before; n != 2 {
		t.Fatalf("%d pushes over a cut connection, want one retry", n)
	}
	if s := g.status(); s.Pending != 1 {
		t.Fatalf("status %+v after a cut push", s)
	}
}

// Enrolling makes the device key, registers it and sets up a private home; an enrolled home is
// not enrolled twice, and a home that was never enrolled does not open.
func TestEnroll(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	fs, srv := newFakeServer(t, func() time.Time { return clock.Now().Add(-10 * time.Minute) })
	home := filepath.Join(t.TempDir(), "tablet")
	opts := Options{Now: clock.Now, PIN: testPIN, KDF: testKDF}

	_, err := Open(home, opts)
	wantCode(t, err, syncer.CodeFailedPrecondition)
	_, err = Enroll(ctx, home, srv.URL, "WRONG", "iPad 3", opts)
	if e := wantCode(t, err, syncer.CodeUnauthenticated); !strings.Contains(e.Message, "ask an admin") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = Enroll(ctx, home, "samvaer.example.dk", fs.code, "iPad 3", opts)
	wantCode(t, err, syncer.CodeInvalid)

	tab, err := Enroll(ctx, home, srv.URL+"/", fs.code, "iPad 3", opts)
	must(t, err)
	if tab.DeviceID() != fs.device || tab.UserID() == "" {
		t.Fatalf("device %q user %q", tab.DeviceID(), tab.UserID())
	}
	sealed, err := os.ReadFile(filepath.Join(home, keyFile))
	must(t, err)
	if bytes.Contains(sealed, tab.key.Seed()) {
		t.Fatal("the device key is stored in plaintext")
	}
	seed, err := tab.store.keys.Open(sealed, deviceKeyAD)
	must(t, err)
	if !ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey).Equal(fs.pub) {
		t.Fatal("the stored key is not the enrolled one")
	}
	for path, mode := range map[string]os.FileMode{home: 0o700 | os.ModeDir, filepath.Join(home, keyFile): 0o600,
		filepath.Join(home, dataKeyFile): 0o600, filepath.Join(home, platformKeyFile): 0o600} {
		st, err := os.Stat(path)
		must(t, err)
		if st.Mode() != mode {
			t.Errorf("%s has mode %v, want %v", path, st.Mode(), mode)
		}
	}
	// The clock offset learnt at enrollment lets the first token request through.
	if _, err := tab.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, tab.Close())

	_, err = Enroll(ctx, home, srv.URL, "ANY", "iPad 3", opts)
	wantCode(t, err, syncer.CodeFailedPrecondition)
	tab, err = Open(home, opts)
	must(t, err)
	if tab.DeviceID() != fs.device {
		t.Fatal("reopened with another device id")
	}
	must(t, tab.Close())

	// A PIN too short is refused before the code is spent.
	short := opts
	short.PIN = "123"
	_, err = Enroll(ctx, filepath.Join(t.TempDir(), "other"), srv.URL, "ANY", "iPad 4", short)
	if e := wantCode(t, err, syncer.CodeInvalid); !strings.Contains(e.Message, "at least 4") {
		t.Fatalf("message %q", e.Message)
	}

	// Once too many wrong PINs destroyed the data key, enrolling again clears the home.
	wrong := opts
	wrong.PIN, wrong.MaxPINAttempts = "9999", 1
	_, err = Open(home, wrong)
	wantCode(t, err, syncer.CodeFailedPrecondition)
	fs.mu.Lock()
	fs.code = "SECOND"
	fs.mu.Unlock()
	tab, err = Enroll(ctx, home, srv.URL, "SECOND", "iPad 3", opts)
	must(t, err)
	if tab.DeviceID() != fs.device {
		t.Fatal("the new enrollment is not the one registered")
	}
	must(t, tab.Close())
}

// A page's new records are inserted with their states sealed before the page is written; a
// record's later change in the same page, and a change to a record the tablet holds, are merged
// in page order.
func TestApplyPageMergesRepeatedRecordsInOrder(t *testing.T) {
	const insertChunk = 64 // where the rows of one statement ended when they went 64 to a statement
	f := newFixture(t, Options{})
	held := syncer.NewID()
	f.pull(f.commit(syncer.TypeObservation, held, "visit_id", f.visitID, "at_ms", "1", "text", "før"))
	var page []*v1.CommittedChange
	ids := make([]string, 2*insertChunk+5)
	for i := range ids {
		ids[i] = syncer.NewID()
		page = append(page, f.commit(syncer.TypeObservation, ids[i], "visit_id", f.visitID, "at_ms", "1", "text", "ny "+strconv.Itoa(i)))
		if i%7 == 3 { // the same record again, right after its creation
			page = append(page, f.commit(syncer.TypeObservation, ids[i], "text", "rettet "+strconv.Itoa(i)))
		}
		if i == insertChunk-1 || i == insertChunk+1 { // a record the tablet holds, at a statement's edge
			page = append(page, f.commit(syncer.TypeObservation, held, "text", "efter "+strconv.Itoa(i)))
		}
	}
	f.pull(page...)
	for i, id := range ids {
		want := "ny " + strconv.Itoa(i)
		if i%7 == 3 {
			want = "rettet " + strconv.Itoa(i)
		}
		rec := f.record(id)
		if got := syncer.Value(rec, "text"); got != want || syncer.Value(rec, "visit_id") != f.visitID {
			t.Fatalf("record %d: text %q, visit %q; want %q", i, got, syncer.Value(rec, "visit_id"), want)
		}
	}
	if got := syncer.Value(f.record(held), "text"); got != "efter "+strconv.Itoa(insertChunk+1) {
		t.Fatalf("the held record: %q", got)
	}
	if n := len(f.visit().Observations); n != len(ids)+1 {
		t.Fatalf("%d observations shown, want %d", n, len(ids)+1)
	}
}

// The push is pipelined (the next batch leaves before the current one's answers are settled), and
// still in order: when a later batch's answer is lost, the batches answered before it are settled,
// and the next sync sends the rest again from the first unanswered one, each settled once.
func TestPipelinedPushLosesNothingWhenALaterAnswerIsLost(t *testing.T) {
	ctx := context.Background()
	f, fs, net := syncFixture(t)
	for i := range 7 {
		_, err := f.tab.Observe(ctx, f.visitID, marker+strconv.Itoa(i))
		must(t, err)
	}
	net.loseNext("/Push", 1) // the second batch's answer, and its retry's
	_, err := f.tab.Sync(ctx)
	wantCode(t, err, syncer.CodeUnavailable)
	if s := f.status(); s.Pending != 5 || s.Awaiting != 2 || fs.lastSeq != 4 {
		t.Fatalf("status %+v after the second batch's answer was lost; server saw up to %d", s, fs.lastSeq)
	}
	r, err := f.tab.Sync(ctx)
	must(t, err)
	if r.Pushed != 5 || r.Applied != 5 {
		t.Fatalf("second sync %+v, want the 5 unanswered changes settled once", r)
	}
	if fmt.Sprint(fs.pushed) != "[[1 2] [3 4] [3 4] [3 4] [5 6] [7]]" {
		t.Fatalf("pushes %v", fs.pushed)
	}
	if s := f.status(); s.Pending != 0 || s.Awaiting != 0 || s.DeadLetters != 0 {
		t.Fatalf("status %+v", s)
	}
	if v := f.visit(); len(v.Observations) != 7 {
		t.Fatalf("%d observations, want 7", len(v.Observations))
	}
}
