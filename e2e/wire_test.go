package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The calls a person or a script can make against the running server, with what they get back.

func TestRequestsWithoutAValidTokenAreRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea", "Mo")
	tb := enrollTablet(t, w.srv, "Kim")
	good, err := tb.AccessToken(ctx)
	mustDo(t, err)
	client := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, w.srv.URL())
	// Tokens made with the server's own key (read from its database, as an attacker with the key
	// could) that break one rule each; forge(nil) itself is accepted, so each refusal is the rule's.
	forge := serverKeyForger(t, w.srv, tb.UserID(), tb.DeviceID())
	if err := pullWith(w.srv, forge(nil)); err != nil {
		t.Fatalf("a token made right with the server's key is refused: %v", err)
	}
	revoked, disabled := enrollTablet(t, w.srv, "Lea"), enrollTablet(t, w.srv, "Mo")
	revokedTok, err := revoked.AccessToken(ctx)
	mustDo(t, err)
	disabledTok, err := disabled.AccessToken(ctx)
	mustDo(t, err)
	_, err = w.srv.Store().RevokeDevice(ctx, server.Actor{}, revoked.DeviceID(), server.DeviceLost)
	mustDo(t, err)
	_, err = w.srv.Store().SetUserDisabled(ctx, server.Actor{}, "Mo", true)
	mustDo(t, err)

	otherKey := func() string {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"iss": syncer.TokenIssuer, "aud": syncer.TokenAudience, "sub": tb.UserID(), "dev": tb.DeviceID(),
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(),
		})
		tok.Header["typ"] = "at+jwt"
		tok.Header["kid"] = "someone-elses"
		s, _ := tok.SignedString(priv)
		return s
	}
	parts := strings.Split(good, ".")
	tests := map[string]string{
		"missing":                  "",
		"not a bearer":             "Basic a2ltOnB3",
		"garbage":                  "Bearer not.a.token",
		"truncated":                "Bearer " + good[:len(good)-10],
		"signature of another":     "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"another server's key":     "Bearer " + otherKey(),
		"alg none":                 "Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".",
		"a megabyte of dots":       "Bearer " + strings.Repeat(".", 1<<20),
		"just over the length cap": "Bearer " + forge(func(f *forgery) { f.claims["pad"] = strings.Repeat("x", 4096) }),

		"alg none, unsigned": "Bearer " + forge(func(f *forgery) { f.method, f.key = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType }),
		"HS256 keyed with the public key": "Bearer " + forge(func(f *forgery) {
			f.method, f.key = jwt.SigningMethodHS256, []byte(f.pub)
		}),
		"unknown kid":      "Bearer " + forge(func(f *forgery) { f.kid = "0123456789abcdef" }),
		"path-like kid":    "Bearer " + forge(func(f *forgery) { f.kid = "../../etc/passwd" }),
		"no kid":           "Bearer " + forge(func(f *forgery) { f.kid = "" }),
		"wrong typ":        "Bearer " + forge(func(f *forgery) { f.typ = "JWT" }),
		"expired":          "Bearer " + forge(func(f *forgery) { f.claims["exp"], f.claims["iat"] = ago(10*time.Minute), ago(20*time.Minute) }),
		"no expiry":        "Bearer " + forge(func(f *forgery) { delete(f.claims, "exp") }),
		"not yet valid":    "Bearer " + forge(func(f *forgery) { f.claims["nbf"] = ago(-10 * time.Minute) }),
		"issued in future": "Bearer " + forge(func(f *forgery) { f.claims["iat"] = ago(-10 * time.Minute) }),
		"wrong audience":   "Bearer " + forge(func(f *forgery) { f.claims["aud"] = "someone-else" }),
		"no audience":      "Bearer " + forge(func(f *forgery) { delete(f.claims, "aud") }),
		"wrong issuer":     "Bearer " + forge(func(f *forgery) { f.claims["iss"] = "evil" }),
		"another device":   "Bearer " + forge(func(f *forgery) { f.claims["dev"] = syncer.NewID() }),
		"another user":     "Bearer " + forge(func(f *forgery) { f.claims["sub"] = syncer.NewID() }),
		"revoked device":   "Bearer " + revokedTok,
		"disabled user":    "Bearer " + disabledTok,
	}
	for name, header := range tests {
		t.Run(name, func(t *testing.T) {
			req := connect.NewRequest(&v1.PullRequest{})
			if header != "" {
				req.Header().Set("Authorization", header)
			}
			_, err := client.Pull(ctx, req)
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("got %v, want Unauthenticated", err)
			}
		})
	}
	// The good token works, for contrast.
	req := connect.NewRequest(&v1.PullRequest{})
	req.Header().Set("Authorization", "Bearer "+good)
	if _, err := client.Pull(ctx, req); err != nil {
		t.Fatal(err)
	}
}

func TestTokenRequestsCannotBeReplayedOrForged(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	auth := samvaerv1connect.NewAuthServiceClient(http.DefaultClient, w.srv.URL())
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().UnixMilli()
	type signer func(nonce string, at int64) []byte
	signed := func(sign signer, nonce string, at int64) *v1.TokenRequest {
		return &v1.TokenRequest{DeviceId: tb.DeviceID(), Nonce: nonce, TimeMs: at, Signature: sign(nonce, at)}
	}
	// The test signs token requests with the tablet's own key (which stays inside the tablet).
	key := signer(tb.SignTokenRequest)
	other := func(nonce string, at int64) []byte {
		return ed25519.Sign(otherKey, syncer.TokenSigningPayload(tb.DeviceID(), nonce, at))
	}
	first := signed(key, "nonce-1", now)
	if _, err := auth.Token(ctx, connect.NewRequest(first)); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*v1.TokenRequest{
		"replayed":        first,
		"stale":           signed(key, "nonce-2", now-int64(10*time.Minute/time.Millisecond)),
		"another key":     signed(other, "nonce-3", now),
		"unknown device":  {DeviceId: syncer.NewID(), Nonce: "n", TimeMs: now, Signature: make([]byte, 64)},
		"malformed input": {DeviceId: "x", Nonce: "", TimeMs: now},
	} {
		if _, err := auth.Token(ctx, connect.NewRequest(req)); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s token request: got %v, want Unauthenticated", name, err)
		}
	}
	if _, err := auth.Enroll(ctx, connect.NewRequest(&v1.EnrollRequest{Code: "NOTACODE", PublicKey: make([]byte, 32)})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("enrolling with an unknown code: %v", err)
	}
}

func TestOversizedPushIsRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	client := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, w.srv.URL())
	huge := &v1.PushRequest{Changes: []*v1.Change{{DeviceSeq: 1, Fields: []*v1.FieldEdit{{Name: "text", Value: strings.Repeat("x", 17<<20)}}}}}
	req := connect.NewRequest(huge)
	req.Header().Set("Authorization", "Bearer "+tok)
	if _, err := client.Push(ctx, req); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("a 17 MiB push: %v, want ResourceExhausted", err)
	}
}

func TestHealthMetricsAndRequestLogs(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	_, err := tb.Observe(ctx, w.visitID, "unused")
	if err == nil {
		t.Fatal("a visit the tablet has not pulled yet must not be found")
	}
	_, err = tb.Sync(ctx)
	mustDo(t, err)

	// gRPC health, called with the Connect protocol's JSON as curl would.
	resp, err := http.Post(w.srv.URL()+"/grpc.health.v1.Health/Check", "application/json",
		strings.NewReader(`{"service":"`+samvaerv1connect.SyncServiceName+`"}`))
	mustDo(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "SERVING") {
		t.Fatalf("health: %s", body)
	}
	// Reflection lists the services, so grpcurl and buf curl can discover them.
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	refl := grpcreflect.NewClient(&http.Client{Transport: h2c}, w.srv.URL(), connect.WithGRPC())
	rs := refl.NewStream(ctx)
	services, err := rs.ListServices()
	mustDo(t, err)
	rs.Close()
	if !slices.Contains(services, protoreflect.FullName(samvaerv1connect.SyncServiceName)) {
		t.Fatalf("reflection lists %v", services)
	}
	resp, err = http.Get(w.srv.URL() + "/metrics")
	mustDo(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `samvaer_rpc_requests_total{code="ok",procedure="/samvaer.v1.SyncService/Pull"}`) {
		t.Fatalf("metrics lack the pull counter:\n%.2000s", body)
	}
	logs := w.srv.logs.String()
	for _, want := range []string{`"procedure":"/samvaer.v1.SyncService/Pull"`, `"request_id":`, `"device":"` + tb.DeviceID() + `"`, `"duration":`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("request log lacks %s:\n%s", want, logs)
		}
	}
}

func TestSubscribeSignalsNewChanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	_, err := tb.Sync(ctx)
	mustDo(t, err)
	st, err := tb.Status(ctx)
	mustDo(t, err)
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	client := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, w.srv.URL())
	req := connect.NewRequest(&v1.SubscribeRequest{Cursor: st.Cursor})
	req.Header().Set("Authorization", "Bearer "+tok)
	stream, err := client.Subscribe(ctx, req)
	mustDo(t, err)
	defer stream.Close()
	// An admin adds a visit while the tablet listens.
	added := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, err := w.srv.Store().AddVisit(ctx, newVisitFor(w, "Kim"))
		added <- err
	}()
	if !stream.Receive() || stream.Msg().Head != st.Cursor {
		t.Fatalf("the first message must tell the current head %d: %v %v", st.Cursor, stream.Msg(), stream.Err())
	}
	if !stream.Receive() {
		t.Fatalf("no signal: %v (adding the visit: %v)", stream.Err(), <-added)
	}
	if stream.Msg().Head <= st.Cursor {
		t.Fatalf("signalled head %d, tablet cursor %d", stream.Msg().Head, st.Cursor)
	}
}

// A tablet's Subscribe stream is woken by what it can pull, not by every commit: another
// case's push does not signal it (with a thousand tablets, each commit woke every tablet into an
// empty pull); a visit planned for its consultant in a case new to her does, as the visit's
// change commits with her membership of the case.
func TestSubscribeSignalsOnlyWhatTheTabletMayPull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	_, err := st.AddUser(ctx, "Ane", []string{"consultant"})
	mustDo(t, err)
	anesCase, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ole"}, Parents: []string{"Lise"}, Caseworker: "Sara"})
	mustDo(t, err)
	at := time.Now().Add(-time.Hour)
	anesVisit, err := st.AddVisit(ctx, server.NewVisit{CaseID: anesCase, Consultant: "Ane", Kind: "supervised", Start: at, End: at.Add(2 * time.Hour), Place: "Rum 3"})
	mustDo(t, err)
	kim := enrollTablet(t, w.srv, "Kim")
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	ane := enrollTablet(t, w.srv, "Ane")
	_, err = ane.Sync(ctx)
	mustDo(t, err)
	status, err := kim.Status(ctx)
	mustDo(t, err)
	tok, err := kim.AccessToken(ctx)
	mustDo(t, err)
	stream, err := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, w.srv.URL()).Subscribe(ctx, withToken(&v1.SubscribeRequest{Cursor: status.Cursor}, tok))
	mustDo(t, err)
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("no first message: %v", stream.Err())
	}
	// Ane writes in her case; then a visit for Kim is planned in a third case.
	_, err = ane.Observe(ctx, anesVisit, "Ole leger med klodser.")
	mustDo(t, err)
	_, err = ane.Sync(ctx)
	mustDo(t, err)
	third, err := st.AddCase(ctx, server.NewCase{Children: []string{"Alma"}, Parents: []string{"Jens"}, Caseworker: "Sara"})
	mustDo(t, err)
	_, err = st.AddVisit(ctx, server.NewVisit{CaseID: third, Consultant: "Kim", Kind: "supported", Start: at.Add(72 * time.Hour), End: at.Add(73 * time.Hour), Place: "Legepladsen"})
	mustDo(t, err)
	planned, err := st.Head(ctx)
	mustDo(t, err)
	if !stream.Receive() {
		t.Fatalf("Kim's stream did not signal the visit planned for her: %v", stream.Err())
	}
	if got := stream.Msg().Head; got < planned {
		t.Fatalf("Kim's stream signalled head %d, before the visit planned for her (%d): it was woken by Ane's push in another case", got, planned)
	}
	r, err := kim.Sync(ctx)
	mustDo(t, err)
	if r.Pulled == 0 {
		t.Fatal("the pull the signal called for brought nothing")
	}
}

// A push in flight when the server is told to stop still commits and is answered.
func TestShutdownLetsInFlightPushesFinish(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	_, err := tb.Sync(ctx)
	mustDo(t, err)
	for i := 0; i < 400; i++ {
		_, err := tb.Observe(ctx, w.visitID, "observation before shutdown")
		mustDo(t, err)
	}
	done := make(chan error, 1)
	go func() { _, err := tb.Sync(ctx); done <- err }()
	time.Sleep(5 * time.Millisecond)
	w.srv.restart()
	if err := <-done; err != nil && !errors.Is(err, io.EOF) {
		// The pull after the push may meet the restart; the push itself must not be half-applied.
		t.Logf("sync across the restart: %v", err)
	}
	_, err = tb.Sync(ctx)
	mustDo(t, err)
	st, err := tb.Status(ctx)
	mustDo(t, err)
	visits, err := tb.Visits(ctx)
	mustDo(t, err)
	if st.Pending != 0 || st.Awaiting != 0 || len(visits[0].Observations) != 400 {
		t.Fatalf("after the restart: %+v, %d observations", st, len(visits[0].Observations))
	}
	want := w.serverDigest(t)
	got, err := tb.Digest(ctx, w.caseID)
	mustDo(t, err)
	if got != want {
		t.Fatal("tablet and server differ after a restart during a push")
	}
}

// One handler speaks Connect, gRPC and gRPC-Web: tablets use Connect, and grpcurl or any gRPC
// client works too.
func TestAllThreeProtocols(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	for name, opt := range map[string]connect.ClientOption{"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC(), "grpc-web": connect.WithGRPCWeb()} {
		client := samvaerv1connect.NewSyncServiceClient(&http.Client{Transport: h2c}, w.srv.URL(), opt)
		req := connect.NewRequest(&v1.PullRequest{})
		req.Header().Set("Authorization", "Bearer "+tok)
		res, err := client.Pull(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Msg.Changes) == 0 || res.Msg.ServerTimeMs == 0 {
			t.Fatalf("%s: pulled %d changes", name, len(res.Msg.Changes))
		}
	}
}
