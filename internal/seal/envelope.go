package seal

import (
	"errors"
	"fmt"
	"sync"
)

// An envelope is what a Keyring stores for one blob:
//
//	version (1 byte) | key id length (1 byte) | key id | wrapped data key | sealed content
//
// The data key is random for every blob and sealed (wrapped) by the key-encryption key named
// by the key id; the content is sealed by the data key. Both are bound to the blob's associated
// data. Re-wrapping under another key-encryption key replaces only the id and the wrapped data
// key: the content's ciphertext is kept as it is.
const (
	versionEnvelope = 2
	wrappedKeySize  = Overhead + KeySize
	maxKeyIDLen     = 64
)

// KEK is a key-encryption key and its id (the id is written into every envelope it wraps).
type KEK struct {
	ID  string
	Key []byte
}

// LoadFunc returns the key-encryption keys there are now and the id of the primary one, which
// seals new envelopes.
type LoadFunc func() (keys []KEK, primary string, err error)

// Keyring seals envelopes under its primary key-encryption key and opens envelopes under any of
// its keys. It is safe for concurrent use.
type Keyring struct {
	load    LoadFunc
	mu      sync.RWMutex
	keys    map[string]*Key
	primary string
}

// NewKeyring loads the keys once.
func NewKeyring(load LoadFunc) (*Keyring, error) {
	k := &Keyring{load: load}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the keys again (after a rotation by another process).
func (k *Keyring) Reload() error {
	keys, primary, err := k.load()
	if err != nil {
		return err
	}
	m := make(map[string]*Key, len(keys))
	for _, kek := range keys {
		if kek.ID == "" || len(kek.ID) > maxKeyIDLen {
			return fmt.Errorf("key-encryption key id %q: must be 1 to %d bytes", kek.ID, maxKeyIDLen)
		}
		key, err := NewKey(kek.Key)
		if err != nil {
			return fmt.Errorf("key-encryption key %s: %w", kek.ID, err)
		}
		m[kek.ID] = key
	}
	if m[primary] == nil {
		return fmt.Errorf("the primary key-encryption key %q is not among the keys", primary)
	}
	k.mu.Lock()
	k.keys, k.primary = m, primary
	k.mu.Unlock()
	return nil
}

// Primary is the id of the key that seals new envelopes.
func (k *Keyring) Primary() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary
}

func (k *Keyring) current() (string, *Key) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary, k.keys[k.primary]
}

// key returns the key-encryption key with id kid, reloading once when it is unknown (another
// process may have rotated).
func (k *Keyring) key(kid string) (*Key, error) {
	k.mu.RLock()
	key := k.keys[kid]
	k.mu.RUnlock()
	if key != nil {
		return key, nil
	}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	k.mu.RLock()
	key = k.keys[kid]
	k.mu.RUnlock()
	if key == nil {
		return nil, fmt.Errorf("stored data is sealed under key-encryption key %q, which this server does not have", kid)
	}
	return key, nil
}

// Seal seals plaintext in a new envelope under the primary key, bound to ad.
func (k *Keyring) Seal(plaintext, ad []byte) ([]byte, error) {
	kid, kek := k.current()
	dek, err := RandomKey()
	if err != nil {
		return nil, err
	}
	defer Wipe(dek)
	content, err := NewKey(dek)
	if err != nil {
		return nil, err
	}
	wrapped, err := kek.Seal(dek, ad)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(kid)+len(wrapped)+Overhead+len(plaintext))
	out = append(out, versionEnvelope, byte(len(kid)))
	out = append(out, kid...)
	out = append(out, wrapped...)
	body, err := content.Seal(plaintext, ad)
	if err != nil {
		return nil, err
	}
	return append(out, body...), nil
}

// parse splits an envelope into its key id, wrapped data key and sealed content.
func parse(blob []byte) (kid string, wrapped, body []byte, err error) {
	if len(blob) < 2 || blob[0] != versionEnvelope {
		return "", nil, nil, ErrOpen
	}
	n := int(blob[1])
	if n == 0 || len(blob) < 2+n+wrappedKeySize+Overhead {
		return "", nil, nil, ErrOpen
	}
	kid = string(blob[2 : 2+n])
	wrapped = blob[2+n : 2+n+wrappedKeySize]
	body = blob[2+n+wrappedKeySize:]
	return kid, wrapped, body, nil
}

// KeyID returns the id of the key-encryption key an envelope is sealed under. It reads only the
// header, so the first 2+255 bytes of an envelope suffice.
func KeyID(blob []byte) (string, error) {
	if len(blob) < 2 || blob[0] != versionEnvelope || blob[1] == 0 || len(blob) < 2+int(blob[1]) {
		return "", ErrOpen
	}
	return string(blob[2 : 2+int(blob[1])]), nil
}

// unwrap returns the data key of an envelope.
func (k *Keyring) unwrap(kid string, wrapped, ad []byte) ([]byte, error) {
	kek, err := k.key(kid)
	if err != nil {
		return nil, err
	}
	return kek.Open(wrapped, ad)
}

// Open opens an envelope sealed with the same ad under any key the keyring has.
func (k *Keyring) Open(blob, ad []byte) ([]byte, error) {
	kid, wrapped, body, err := parse(blob)
	if err != nil {
		return nil, err
	}
	dek, err := k.unwrap(kid, wrapped, ad)
	if err != nil {
		return nil, err
	}
	defer Wipe(dek)
	content, err := NewKey(dek)
	if err != nil {
		return nil, err
	}
	return content.Open(body, ad)
}

// ErrSamePrimary is returned by Rewrap for an envelope already under the primary key.
var ErrSamePrimary = errors.New("already under the primary key")

// Rewrap returns the envelope with its data key wrapped by the primary key instead, the sealed
// content unchanged. An envelope already under the primary key gives ErrSamePrimary.
func (k *Keyring) Rewrap(blob, ad []byte) ([]byte, error) {
	kid, wrapped, body, err := parse(blob)
	if err != nil {
		return nil, err
	}
	pid, primary := k.current()
	if kid == pid {
		return nil, ErrSamePrimary
	}
	dek, err := k.unwrap(kid, wrapped, ad)
	if err != nil {
		return nil, err
	}
	defer Wipe(dek)
	rewrapped, err := primary.Seal(dek, ad)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(pid)+len(rewrapped)+len(body))
	out = append(out, versionEnvelope, byte(len(pid)))
	out = append(out, pid...)
	out = append(out, rewrapped...)
	return append(out, body...), nil
}

// SealedContent returns the sealed content of an envelope: the part a re-wrap keeps as it is.
// A hash over it stays valid across key rotations while still covering the content.
func SealedContent(blob []byte) ([]byte, error) {
	_, _, body, err := parse(blob)
	return body, err
}
