// Package seal is the authenticated encryption both ends use for what they store: an AEAD
// (XChaCha20-Poly1305) under one key (Key: the tablet's data key, and key wrapping), and an
// envelope (Keyring) that seals every blob under its own random data key wrapped by a
// key-encryption key named in the blob, so keys can rotate and blobs be re-wrapped without
// re-encrypting their content (the server). Associated data binds every ciphertext to its place:
// a ciphertext moved to another row or column fails to open.
//
// It imports nothing of ours; server, clientlib and internal/records import it, so no crypto code
// is written twice.
package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the size of every key here: data keys, wrapping keys and key-encryption keys.
const KeySize = chacha20poly1305.KeySize

// ErrOpen is returned when a ciphertext does not open: a wrong key, associated data that does
// not match (the blob was moved), or damaged bytes. It never says which, and never holds content.
var ErrOpen = errors.New("stored data does not open with this key (wrong key, moved or damaged)")

// Sealer seals and opens stored blobs. ad is the associated data naming the blob's place.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(blob, ad []byte) ([]byte, error)
}

// versionKey marks a blob sealed by a Key: version byte, 24-byte nonce, ciphertext with tag.
const versionKey = 1

// Key is an AEAD key: a Sealer whose blobs are version || nonce || ciphertext.
type Key struct {
	aead cipher.AEAD
}

// NewKey makes a Key from KeySize bytes.
func NewKey(key []byte) (*Key, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("make key: %w", err)
	}
	return &Key{aead: aead}, nil
}

// RandomKey returns KeySize random bytes.
func RandomKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("make random key: %w", err)
	}
	return k, nil
}

// Overhead is how many bytes a Key adds to what it seals.
const Overhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// Seal encrypts plaintext bound to ad.
func (k *Key) Seal(plaintext, ad []byte) ([]byte, error) {
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, Overhead+len(plaintext))
	out[0] = versionKey
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("make nonce: %w", err)
	}
	return k.aead.Seal(out, out[1:], plaintext, ad), nil
}

// Open decrypts a blob made by Seal with the same ad, or returns ErrOpen.
func (k *Key) Open(blob, ad []byte) ([]byte, error) {
	if len(blob) < Overhead || blob[0] != versionKey {
		return nil, ErrOpen
	}
	nonce := blob[1 : 1+chacha20poly1305.NonceSizeX]
	plain, err := k.aead.Open(nil, nonce, blob[1+chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// Wipe overwrites a secret in memory (best effort: the garbage collector may have copied it).
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
