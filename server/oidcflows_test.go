package server

import (
	"testing"
	"time"
)

// A sign-in started through one server instance is finished by another (the flow is in the
// database, not in one process's memory); each is taken once, and an expired one not at all.
func TestAnIdentityProviderSignInFlowIsTakenOnceOnAnyInstance(t *testing.T) {
	f := newFixture(t)
	other := MustOpenStore(t, f.dir, f.clock) // a second instance on the same store
	flow := OIDCFlow{Nonce: "nonce-1", Verifier: "verifier-1"}
	mustDo(t, f.store.StartOIDCFlow(f.ctx, "state-1", flow, f.clock.Now().Add(10*time.Minute)))
	got, ok, err := other.TakeOIDCFlow(f.ctx, "state-1")
	if err != nil || !ok || got != flow {
		t.Fatalf("the other instance took %+v, %v, %v", got, ok, err)
	}
	if _, ok, err := f.store.TakeOIDCFlow(f.ctx, "state-1"); ok || err != nil {
		t.Fatalf("a flow was taken twice: %v %v", ok, err)
	}
	if _, ok, _ := f.store.TakeOIDCFlow(f.ctx, "never-started"); ok {
		t.Fatal("a state never started was taken")
	}
	mustDo(t, f.store.StartOIDCFlow(f.ctx, "state-2", flow, f.clock.Now().Add(time.Minute)))
	f.clock.Add(2 * time.Minute)
	if _, ok, _ := other.TakeOIDCFlow(f.ctx, "state-2"); ok {
		t.Fatal("an expired flow was taken")
	}
	var plain int
	mustDo(t, f.store.read.QueryRow(`SELECT COUNT(*) FROM oidc_flows WHERE secret LIKE '%verifier%'`).Scan(&plain))
	if plain != 0 {
		t.Fatal("a flow's verifier is stored in the clear")
	}
}
