package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// withToken makes a request carrying a bearer token.
func withToken[T any](msg *T, tok string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+tok)
	return req
}

// adminClient enrolls a tablet for a new admin and returns an AdminService client and its token.
func adminClient(t *testing.T, s *liveServer) (samvaerv1connect.AdminServiceClient, string) {
	t.Helper()
	if _, err := s.Store().AddUser(context.Background(), "Ada", []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	tok, err := enrollTablet(t, s, "Ada").AccessToken(context.Background())
	mustDo(t, err)
	return samvaerv1connect.NewAdminServiceClient(http.DefaultClient, s.URL()), tok
}

// cliStore opens the running server's data directory as `samvaer admin` does on its host.
func cliStore(t *testing.T, s *liveServer) *server.Store {
	t.Helper()
	st, err := openStore(t, s.dir)
	mustDo(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// pullWith makes one raw pull with a token.
func pullWith(s *liveServer, tok string) error {
	_, err := samvaerv1connect.NewSyncServiceClient(http.DefaultClient, s.URL()).Pull(context.Background(), withToken(&v1.PullRequest{}, tok))
	return err
}

// wipeOf returns the wipe instruction an error carries.
func wipeOf(err error) v1.Revocation {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return v1.Revocation_REVOCATION_UNSPECIFIED
	}
	for _, d := range ce.Details() {
		if m, derr := d.Value(); derr == nil {
			if w, ok := m.(*v1.WipeInstruction); ok {
				return w.Revocation
			}
		}
	}
	return v1.Revocation_REVOCATION_UNSPECIFIED
}

// lastAudit returns the newest audit entry about a device.
func lastAudit(t *testing.T, s *liveServer, deviceID string) server.AuditEntry {
	t.Helper()
	entries, err := s.Store().AuditEntries(context.Background(), server.AuditFilter{DeviceID: deviceID})
	mustDo(t, err)
	if len(entries) == 0 {
		t.Fatal("no audit entries for the device")
	}
	return entries[len(entries)-1]
}

// A lost tablet, revoked through AdminService: its very next request is refused, whatever its
// token's expiry; at its next sync it confirms and wipes itself, and its unsent changes are
// refused and counted in the audit log.
func TestLostTabletRevokedByRPCIsRefusedAndWipes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	admin, adminTok := adminClient(t, w.srv)
	tb := enrollTablet(t, w.srv, "Kim")
	_, err := tb.Sync(ctx)
	mustDo(t, err)
	before := w.serverDigest(t)
	for _, text := range []string{"never sent one", "never sent two"} {
		_, err := tb.Observe(ctx, w.visitID, text)
		mustDo(t, err)
	}
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	mustDo(t, pullWith(w.srv, tok))

	res, err := admin.RevokeDevice(ctx, withToken(&v1.RevokeDeviceRequest{DeviceId: tb.DeviceID(), Revocation: v1.Revocation_REVOCATION_LOST}, adminTok))
	mustDo(t, err)
	if res.Msg.Device.Status != server.DeviceLost || res.Msg.Device.RevokedMs == 0 {
		t.Fatalf("revoked device %+v", res.Msg.Device)
	}
	// The same, still unexpired token is refused at once, with the instruction to wipe.
	err = pullWith(w.srv, tok)
	if connect.CodeOf(err) != connect.CodeUnauthenticated || wipeOf(err) != v1.Revocation_REVOCATION_LOST {
		t.Fatalf("a lost tablet's pull: %v", err)
	}
	// A token request signed with its key gets the same instruction.
	nonce, now := syncer.NewID(), time.Now().UnixMilli()
	_, err = samvaerv1connect.NewAuthServiceClient(http.DefaultClient, w.srv.URL()).Token(ctx, connect.NewRequest(&v1.TokenRequest{
		DeviceId: tb.DeviceID(), Nonce: nonce, TimeMs: now, Signature: tb.SignTokenRequest(nonce, now)}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated || wipeOf(err) != v1.Revocation_REVOCATION_LOST {
		t.Fatalf("a lost tablet's token request: %v", err)
	}
	_, err = tb.Sync(ctx)
	if !errors.Is(err, clientlib.ErrWiped) {
		t.Fatalf("a lost tablet's sync: %v", err)
	}
	if _, err := os.Stat(tb.home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lost tablet's home survived: %v", err)
	}
	if _, err := tb.Sync(ctx); !errors.Is(err, clientlib.ErrWiped) {
		t.Fatalf("a second sync after the wipe: %v", err)
	}
	if w.serverDigest(t) != before {
		t.Fatal("a lost tablet's unsent changes reached the server")
	}
	e := lastAudit(t, w.srv, tb.DeviceID())
	if e.Kind != server.AuditWipeConfirmed || e.Detail["unsent_changes_refused"] != "2" || e.Detail["revocation"] != "lost" {
		t.Fatalf("the wipe was not confirmed in the audit log: %+v", e)
	}
	entries, err := w.srv.Store().AuditEntries(ctx, server.AuditFilter{DeviceID: tb.DeviceID()})
	mustDo(t, err)
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind+":"+e.Detail["reason"]+e.Detail["revocation"])
	}
	want := []string{"device.enrolled:", "device.revoked:lost", "token.refused:lost", "device.wiped:lost"}
	if !slices.Equal(slices.Compact(slices.Clone(kinds)), want) {
		t.Fatalf("the device's audit trail %v, want %v", kinds, want)
	}
	// Nothing more is accepted from the device, wipe confirmed or not.
	if err := pullWith(w.srv, tok); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a wiped tablet's old token: %v", err)
	}
	v, err := w.srv.Store().VerifyAudit(ctx)
	mustDo(t, err)
	if len(v.Problems) > 0 {
		t.Fatalf("audit log: %v", v.Problems)
	}
}

// A retired tablet, revoked on the command line on the server's host while the server runs: it
// may push its pending changes once more, then it is told to wipe, and confirms.
func TestRetiredTabletRevokedOnTheCommandLinePushesThenWipes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	_, err := tb.Sync(ctx)
	mustDo(t, err)
	_, err = tb.Observe(ctx, w.visitID, "the last words")
	mustDo(t, err)
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)

	_, err = cliStore(t, w.srv).RevokeDevice(ctx, server.Actor{}, tb.DeviceID(), server.DeviceRetired)
	mustDo(t, err)
	err = pullWith(w.srv, tok)
	if connect.CodeOf(err) != connect.CodeUnauthenticated || wipeOf(err) != v1.Revocation_REVOCATION_RETIRED {
		t.Fatalf("a retired tablet's pull with a valid token: %v", err)
	}
	_, err = tb.Sync(ctx)
	if !errors.Is(err, clientlib.ErrWiped) {
		t.Fatalf("a retired tablet's sync: %v", err)
	}
	if _, err := os.Stat(tb.home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the retired tablet's home survived: %v", err)
	}
	// Its final push arrived: Kim's new tablet has it.
	next := enrollTablet(t, w.srv, "Kim")
	_, err = next.Sync(ctx)
	mustDo(t, err)
	visits, err := next.Visits(ctx)
	mustDo(t, err)
	if len(visits[0].Observations) != 1 || visits[0].Observations[0].Text != "the last words" {
		t.Fatalf("the retired tablet's final push did not arrive: %+v", visits[0].Observations)
	}
	e := lastAudit(t, w.srv, tb.DeviceID())
	if e.Kind != server.AuditWipeConfirmed || e.Detail["unsent_changes_refused"] != "0" || e.Detail["revocation"] != "retired" {
		t.Fatalf("wipe audit entry %+v", e)
	}
	// After its wipe a retired tablet may not push again.
	_, err = samvaerv1connect.NewSyncServiceClient(http.DefaultClient, w.srv.URL()).Push(ctx, withToken(&v1.PushRequest{}, tok))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a push after the wipe: %v", err)
	}
}

// A disabled user's devices are refused at their next request, through AdminService or the
// command line; enabling the user lets them back. They are not told to wipe.
func TestDisabledUsersDevicesAreRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	admin, adminTok := adminClient(t, w.srv)
	tb := enrollTablet(t, w.srv, "Kim")
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	for _, via := range []string{"rpc", "command line"} {
		if via == "rpc" {
			_, err = admin.DisableUser(ctx, withToken(&v1.DisableUserRequest{User: "Kim"}, adminTok))
		} else {
			_, err = cliStore(t, w.srv).SetUserDisabled(ctx, server.Actor{}, "Kim", true)
		}
		mustDo(t, err)
		err = pullWith(w.srv, tok)
		if connect.CodeOf(err) != connect.CodeUnauthenticated || wipeOf(err) != v1.Revocation_REVOCATION_UNSPECIFIED ||
			!strings.Contains(err.Error(), "disabled") {
			t.Fatalf("%s: a disabled user's pull: %v", via, err)
		}
		if _, err := tb.Sync(ctx); err == nil || errors.Is(err, clientlib.ErrWiped) {
			t.Fatalf("%s: a disabled user's sync: %v", via, err)
		}
		_, err = admin.EnableUser(ctx, withToken(&v1.EnableUserRequest{User: "Kim"}, adminTok))
		mustDo(t, err)
		mustDo(t, pullWith(w.srv, tok))
		_, err = tb.Sync(ctx)
		mustDo(t, err)
	}
}

// keys rotate-signing on the command line while the server runs: new tokens use the new key, and
// tokens signed with the old key keep working until they expire.
func TestSigningKeyRotationWhileServing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	old, err := enrollTablet(t, w.srv, "Kim").AccessToken(ctx)
	mustDo(t, err)
	kid, err := cliStore(t, w.srv).RotateSigningKey(ctx)
	mustDo(t, err)
	fresh, err := enrollTablet(t, w.srv, "Lea").AccessToken(ctx)
	mustDo(t, err)
	if got := tokenKid(t, fresh); got != kid {
		t.Fatalf("a new token is signed with key %q, want the rotated %q", got, kid)
	}
	if tokenKid(t, old) == kid {
		t.Fatal("the old token already had the new key")
	}
	mustDo(t, pullWith(w.srv, old))
	mustDo(t, pullWith(w.srv, fresh))
}

// tokenKid reads the kid from a token's header, without verifying anything.
func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	mustDo(t, err)
	var h struct {
		Kid string `json:"kid"`
	}
	mustDo(t, json.Unmarshal(raw, &h))
	return h.Kid
}

// forgery is a token to be made: its signing method, key, header and claims.
type forgery struct {
	method jwt.SigningMethod
	key    any
	pub    ed25519.PublicKey
	kid    string
	typ    string
	claims jwt.MapClaims
}

func ago(d time.Duration) int64 { return time.Now().Add(-d).Unix() }

// serverKeyForger reads the server's primary signing key from its database file, opened with the
// key-encryption key file beside it (an attacker who holds the whole data directory), and returns
// a function that makes tokens with it: by default exactly as the server does, changed by edit.
func serverKeyForger(t *testing.T, s *liveServer, userID, deviceID string) func(edit func(*forgery)) string {
	t.Helper()
	db := rawServerDB(t, s.dir)
	var kid string
	var sealed []byte
	mustDo(t, db.QueryRow(`SELECT kid, private_key FROM signing_keys WHERE is_primary = 1`).Scan(&kid, &sealed))
	raw, err := os.ReadFile(filepath.Join(s.dir, server.KEKFile))
	mustDo(t, err)
	var file struct {
		Primary string `json:"primary"`
		Keys    []struct{ ID, Key string }
	}
	mustDo(t, json.Unmarshal(raw, &file))
	keyring, err := seal.NewKeyring(func() ([]seal.KEK, string, error) {
		var keks []seal.KEK
		for _, k := range file.Keys {
			b, err := base64.StdEncoding.DecodeString(k.Key)
			if err != nil {
				return nil, "", err
			}
			keks = append(keks, seal.KEK{ID: k.ID, Key: b})
		}
		return keks, file.Primary, nil
	})
	mustDo(t, err)
	seed, err := keyring.Open(sealed, []byte("signing_keys.private_key|"+kid))
	mustDo(t, err)
	key := ed25519.NewKeyFromSeed(seed)
	return func(edit func(*forgery)) string {
		f := &forgery{method: jwt.SigningMethodEdDSA, key: key, pub: key.Public().(ed25519.PublicKey), kid: kid, typ: "at+jwt",
			claims: jwt.MapClaims{"iss": syncer.TokenIssuer, "aud": syncer.TokenAudience, "sub": userID, "dev": deviceID,
				"exp": ago(-time.Minute), "iat": ago(0), "nbf": ago(30 * time.Second)}}
		if edit != nil {
			edit(f)
		}
		tok := jwt.NewWithClaims(f.method, f.claims)
		tok.Header["typ"] = f.typ
		if f.kid != "" {
			tok.Header["kid"] = f.kid
		}
		signed, err := tok.SignedString(f.key)
		mustDo(t, err)
		return signed
	}
}
