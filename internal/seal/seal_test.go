package seal

import (
	"bytes"
	"errors"
	"testing"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := RandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A sealed blob opens only with its key and its associated data: moved to another place (other
// ad) or altered by one bit it fails, and the plaintext is not in the blob.
func TestKeySealOpen(t *testing.T) {
	k, err := NewKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("MARKER Ida runs to her mother")
	blob, err := k.Seal(plain, []byte("record-state|a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("MARKER")) {
		t.Fatal("plaintext in the sealed blob")
	}
	got, err := k.Open(blob, []byte("record-state|a"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := k.Open(blob, []byte("record-state|b")); !errors.Is(err, ErrOpen) {
		t.Fatalf("moved blob opened: %v", err)
	}
	other, _ := NewKey(mustKey(t))
	if _, err := other.Open(blob, []byte("record-state|a")); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened with another key: %v", err)
	}
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 1
		if _, err := k.Open(bad, []byte("record-state|a")); err == nil {
			t.Fatalf("altered byte %d opened", i)
		}
	}
	if _, err := k.Open(blob[:5], nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("short blob: %v", err)
	}
}

// ring is a key set a test can rotate.
type ring struct {
	keys    []KEK
	primary string
}

func (r *ring) load() ([]KEK, string, error) { return r.keys, r.primary, nil }

// Envelopes keep opening after a rotation; re-wrapping moves them to the new key without
// touching their content; after that the old key is not needed.
func TestKeyringRotateRewrap(t *testing.T) {
	r := &ring{keys: []KEK{{ID: "k1", Key: mustKey(t)}}, primary: "k1"}
	kr, err := NewKeyring(r.load)
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("records.state|x")
	blob, err := kr.Seal([]byte("MARKER text"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("MARKER")) {
		t.Fatal("plaintext in the envelope")
	}
	if kid, _ := KeyID(blob); kid != "k1" {
		t.Fatalf("key id %q", kid)
	}
	if _, err := kr.Open(blob, []byte("records.state|y")); err == nil {
		t.Fatal("a moved envelope opened")
	}

	// Rotation by another process: the keyring learns the new key when it meets it or reloads.
	r.keys = append(r.keys, KEK{ID: "k2", Key: mustKey(t)})
	r.primary = "k2"
	if err := kr.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Open(blob, ad); err != nil || string(got) != "MARKER text" {
		t.Fatalf("old envelope after rotation: %q, %v", got, err)
	}
	fresh, _ := kr.Seal([]byte("new"), ad)
	if kid, _ := KeyID(fresh); kid != "k2" {
		t.Fatalf("new envelope under %q", kid)
	}
	if _, err := kr.Rewrap(fresh, ad); !errors.Is(err, ErrSamePrimary) {
		t.Fatalf("rewrap of a primary envelope: %v", err)
	}
	moved, err := kr.Rewrap(blob, ad)
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := KeyID(moved); kid != "k2" {
		t.Fatalf("rewrapped under %q", kid)
	}
	if !bytes.Equal(moved[len(moved)-len("MARKER text")-Overhead:], blob[len(blob)-len("MARKER text")-Overhead:]) {
		t.Fatal("rewrap re-encrypted the content")
	}

	// Retire k1: the rewrapped envelope still opens, the old one does not.
	r.keys = r.keys[1:]
	if err := kr.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, err := kr.Open(moved, ad); err != nil || string(got) != "MARKER text" {
		t.Fatalf("rewrapped envelope: %q, %v", got, err)
	}
	if _, err := kr.Open(blob, ad); err == nil {
		t.Fatal("an envelope under a retired key opened")
	}
}

func FuzzKeyringOpen(f *testing.F) {
	r := &ring{keys: []KEK{{ID: "k1", Key: make([]byte, KeySize)}}, primary: "k1"}
	kr, err := NewKeyring(r.load)
	if err != nil {
		f.Fatal(err)
	}
	blob, _ := kr.Seal([]byte("x"), nil)
	f.Add(blob)
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		kr.Open(b, nil)
		kr.Rewrap(b, nil)
	})
}

func FuzzKeyOpen(f *testing.F) {
	k, err := NewKey(make([]byte, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	blob, _ := k.Seal([]byte("x"), []byte("ad"))
	f.Add(blob, []byte("ad"))
	f.Add([]byte{1}, []byte(nil))
	f.Fuzz(func(t *testing.T, b, ad []byte) {
		// Only what Seal made opens: here, "x" bound to "ad" (under a fuzzing worker's own nonce).
		if plain, err := k.Open(b, ad); err == nil && (string(plain) != "x" || string(ad) != "ad") {
			t.Fatalf("a forged blob opened: %q", plain)
		}
	})
}
