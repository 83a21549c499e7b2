package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

// A token verified once is known without its signature being checked again, for its lifetime and
// no longer: it is refused once expired (with the leeway), and a token differing from it in one
// byte is checked afresh and refused.
func TestAVerifiedTokenIsKnownUntilItExpires(t *testing.T) {
	f := newFixture(t)
	u := must(f.store.AddUser(f.ctx, "Lea Konsulent", []string{"consultant"}))
	code, _, err := f.store.NewEnrollmentCode(f.ctx, u.Name)
	mustDo(t, err)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	device, _, err := f.store.Enroll(f.ctx, code, pub, "test tablet")
	mustDo(t, err)
	tokens := must(NewTokens(f.ctx, f.store))
	now := f.clock.Now().UnixMilli()
	raw, _, err := tokens.Issue(f.ctx, device, "nonce-1", now, ed25519.Sign(priv, syncer.TokenSigningPayload(device, "nonce-1", now)))
	mustDo(t, err)

	for range 2 {
		id, err := tokens.Verify(raw)
		if err != nil || id.DeviceID != device || id.UserID != u.ID {
			t.Fatalf("a valid token: %v, %v", id, err)
		}
	}
	if len(tokens.verified) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(tokens.verified))
	}
	tampered := []byte(raw)
	tampered[len(tampered)-2] ^= 1
	if _, err := tokens.Verify(string(tampered)); err == nil {
		t.Fatal("a token with a changed signature was taken for the one verified")
	}
	f.clock.Add(AccessTokenTTL + tokenLeeway + time.Second)
	if _, err := tokens.Verify(raw); err == nil {
		t.Fatal("an expired token was taken because it had been verified")
	}
}
