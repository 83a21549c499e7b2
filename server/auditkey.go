package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/samvaer/sync/syncer"
)

// The audit anchor key. Every audit entry carries an HMAC-SHA256 of its hash under a key the
// database does not hold, so someone who can write the database file but not read the
// configuration cannot forge, edit or re-chain an entry: the recomputed hashes would need new
// MACs. The key comes from SAMVAER_AUDIT_KEY (base64 of 32 bytes), or else from AuditKeyFile in
// the data directory (0600, made on first start) — like the KEK, in production it belongs in a
// secret store, not beside the database backups.

// AuditKeyFile is the audit anchor key's file in the data directory.
const AuditKeyFile = "audit.key"

// AuditKeyEnv is the environment variable that, when set, holds the audit anchor key.
const AuditKeyEnv = "SAMVAER_AUDIT_KEY"

const auditKeySize = 32

// loadAuditKey reads the anchor key from the environment or the key file, making the file when
// neither exists. made says the key is new (the caller checks that no entry needed an old one).
func loadAuditKey(dir string) (key []byte, made bool, err error) {
	bad := syncer.Errorf(syncer.CodeInvalid, "%s (or %s) must hold the base64 of %d random bytes.", AuditKeyEnv, AuditKeyFile, auditKeySize)
	if env := strings.TrimSpace(os.Getenv(AuditKeyEnv)); env != "" {
		key, err := base64.StdEncoding.DecodeString(env)
		if err != nil || len(key) != auditKeySize {
			return nil, false, bad
		}
		return key, false, nil
	}
	path := filepath.Join(dir, AuditKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != auditKeySize {
			return nil, false, bad
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read audit key: %w", err)
	}
	key = make([]byte, auditKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("make data directory: %w", err)
	}
	if err := renameio.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600, renameio.WithStaticPermissions(0o600)); err != nil {
		return nil, false, fmt.Errorf("write audit key: %w", err)
	}
	return key, true, nil
}

// auditMAC anchors an entry's hash with the audit key.
func auditMAC(key, hash []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("samvaer-audit-anchor-v1|"))
	m.Write(hash)
	return m.Sum(nil)
}
