package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// Encryption at rest. Everything a person wrote reaches the database only sealed in an envelope
// (internal/seal): a random data key per blob, wrapped by a key-encryption key (KEK) whose id the
// envelope carries, with associated data naming the blob's row and column. The KEKs come from
// configuration: the environment variable SAMVAER_KEK (base64 keys, comma-separated, the first
// primary), which takes precedence, and the key file KEKFile in the data directory (0600, made on
// first start when the variable is not set). `admin keys rotate` adds a primary KEK to the file,
// `keys rewrap` re-wraps every envelope's data key under the primary (the content is not
// re-encrypted) and `keys retire` drops a KEK no envelope uses.

// KEKFile is the key file in the data directory.
const KEKFile = "kek.json"

// KEKEnv is the environment variable that, when set, holds the key-encryption keys.
const KEKEnv = "SAMVAER_KEK"

// keyFileData is the key file's JSON.
type keyFileData struct {
	Primary string       `json:"primary"`
	Keys    []keyFileKEK `json:"keys"`
}

type keyFileKEK struct {
	ID        string `json:"id"`
	Key       string `json:"key"` // base64
	CreatedMs int64  `json:"created_ms"`
}

// kekID names a key by a hash of it, so a key given in the environment has the same id
// everywhere without storing one.
func kekID(key []byte) string {
	h := sha256.Sum256(append([]byte("samvaer-kek-id|"), key...))
	return hex.EncodeToString(h[:8])
}

// kekSource reads the KEKs from the environment value and the key file, rereading the file only
// when it changed.
type kekSource struct {
	path string
	env  string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	keys    []seal.KEK
	primary string
}

// load is a seal.LoadFunc.
func (s *kekSource) load() ([]seal.KEK, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		return nil, "", fmt.Errorf("read key file: %w", err)
	}
	if s.keys != nil && ((fi == nil && s.size < 0) || (fi != nil && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size)) {
		return s.keys, s.primary, nil
	}
	var keys []seal.KEK
	var primary string
	if s.env != "" {
		for _, part := range strings.Split(s.env, ",") {
			key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(part))
			if err != nil || len(key) != seal.KeySize {
				return nil, "", syncer.Errorf(syncer.CodeInvalid, "%s must hold base64 keys of %d bytes, separated by commas.", KEKEnv, seal.KeySize)
			}
			keys = append(keys, seal.KEK{ID: kekID(key), Key: key})
		}
		primary = keys[0].ID
	}
	s.size = -1
	if fi != nil {
		f, err := readKeyFile(s.path)
		if err != nil {
			return nil, "", err
		}
		for _, k := range f.Keys {
			key, _ := base64.StdEncoding.DecodeString(k.Key)
			keys = append(keys, seal.KEK{ID: k.ID, Key: key})
		}
		if primary == "" {
			primary = f.Primary
		}
		s.modTime, s.size = fi.ModTime(), fi.Size()
	}
	if primary == "" {
		return nil, "", syncer.Errorf(syncer.CodeFailedPrecondition, "No key-encryption key: set %s or keep %s in the data directory.", KEKEnv, KEKFile)
	}
	s.keys, s.primary = keys, primary
	return keys, primary, nil
}

func readKeyFile(path string) (keyFileData, error) {
	var f keyFileData
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("read key file: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, syncer.Errorf(syncer.CodeFailedPrecondition, "The key file %s is damaged; restore it from where its copy is kept.", path)
	}
	for _, k := range f.Keys {
		key, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil || len(key) != seal.KeySize || k.ID == "" {
			return f, syncer.Errorf(syncer.CodeFailedPrecondition, "The key file %s is damaged; restore it from where its copy is kept.", path)
		}
	}
	return f, nil
}

// writeKeyFile replaces the key file atomically, mode 0600.
func writeKeyFile(path string, f keyFileData) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	// By rename, so a crash leaves the old key file or the new one; mode 0600 whatever the umask.
	if err := renameio.WriteFile(path, b, 0o600, renameio.WithStaticPermissions(0o600)); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

// newKEK makes a random key file entry.
func newKEK(nowMs int64) (keyFileKEK, error) {
	key, err := seal.RandomKey()
	if err != nil {
		return keyFileKEK{}, err
	}
	return keyFileKEK{ID: kekID(key), Key: base64.StdEncoding.EncodeToString(key), CreatedMs: nowMs}, nil
}

// openKeyring loads the KEKs for data directory dir, making the key file with a first KEK when
// there is neither a key file nor SAMVAER_KEK.
func openKeyring(dir string, nowMs int64) (kr *seal.Keyring, src *kekSource, made bool, err error) {
	src = &kekSource{path: filepath.Join(dir, KEKFile), env: os.Getenv(KEKEnv)}
	if _, err := os.Stat(src.path); errors.Is(err, fs.ErrNotExist) && src.env == "" {
		if _, err := os.Stat(filepath.Join(dir, DBFile)); err == nil {
			return nil, nil, false, errNoKEK(dir)
		}
		k, err := newKEK(nowMs)
		if err != nil {
			return nil, nil, false, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, false, fmt.Errorf("make data directory: %w", err)
		}
		if err := writeKeyFile(src.path, keyFileData{Primary: k.ID, Keys: []keyFileKEK{k}}); err != nil {
			return nil, nil, false, err
		}
		made = true
	}
	if kr, err = seal.NewKeyring(src.load); err != nil {
		return nil, nil, false, err
	}
	return kr, src, made, nil
}

// errNoKEK refuses a database whose key-encryption key is missing: a new key could not open what
// is stored (the old one was lost, or not given to this instance).
func errNoKEK(dir string) error {
	return syncer.Errorf(syncer.CodeFailedPrecondition, "The server's database already holds data, but the data directory %s has no key-encryption key: set %s or restore %s from where its copy is kept (every server on one PostgreSQL database needs the same keys).", dir, KEKEnv, KEKFile)
}

// Associated data of the server's sealed columns: each names the table, column and row (a
// record's state uses records.StateAD, shared with the tablet).
func columnAD(column, row string) []byte { return []byte(column + "|" + row) }
func effectAD(seq int64) []byte          { return columnAD("changes.effect", strconv.FormatInt(seq, 10)) }
func submittedAD(seq int64) []byte       { return columnAD("changes.submitted", strconv.FormatInt(seq, 10)) }
func signingKeyAD(kid string) []byte     { return columnAD("signing_keys.private_key", kid) }

// KEKInfo describes a key-encryption key for `admin keys list`.
type KEKInfo struct {
	ID      string `json:"id"`
	Primary bool   `json:"primary"`
	Source  string `json:"source"` // env or file
	InUse   int    `json:"in_use"` // stored values sealed under it
}

// RotateKEK makes a new random KEK the primary one in the key file. Values sealed under older
// keys keep opening; `RewrapKEK` moves them to the new key.
func (s *Store) RotateKEK(ctx context.Context) (string, error) {
	if s.kekSrc.env != "" {
		return "", syncer.Errorf(syncer.CodeFailedPrecondition, "The key-encryption keys come from %s: put a new key first in it (keep the old ones after it), restart, run 'keys rewrap', then drop the old key from it.", KEKEnv)
	}
	f, err := readKeyFile(s.kekSrc.path)
	if err != nil {
		return "", err
	}
	k, err := newKEK(s.nowMs())
	if err != nil {
		return "", err
	}
	f.Keys, f.Primary = append(f.Keys, k), k.ID
	if err := writeKeyFile(s.kekSrc.path, f); err != nil {
		return "", err
	}
	return k.ID, s.keys.Reload()
}

// sealedColumns are every sealed column: table, column, row key, and the associated data of a row.
var sealedColumns = []struct {
	table, column, key string
	ad                 func(key string) []byte
}{
	{"records", "state", "id", records.StateAD},
	{"changes", "effect", "seq", func(k string) []byte { return columnAD("changes.effect", k) }},
	{"changes", "submitted", "seq", func(k string) []byte { return columnAD("changes.submitted", k) }},
	{"signing_keys", "private_key", "kid", signingKeyAD},
	{"audit_log", "purpose_sealed", "id", func(k string) []byte { return columnAD("audit_log.purpose", k) }},
	{"server_secrets", "value", "name", secretAD},
	{"user_factors", "secret", "user_id", totpSecretAD},
}

// rewrapBatch bounds one write transaction of a re-wrap, so the server's pushes wait little.
const rewrapBatch = 500

// RewrapKEK re-wraps every stored value's data key under the primary KEK; the sealed content
// stays as it is. It runs in batches, so a running server keeps working, and returns how many
// values it re-wrapped.
func (s *Store) RewrapKEK(ctx context.Context) (int, error) {
	if err := s.keys.Reload(); err != nil {
		return 0, err
	}
	total := 0
	for _, col := range sealedColumns {
		var after any // the last key read; nil before the first batch
		for {
			n, last, err := s.rewrapBatch(ctx, col.table, col.column, col.key, col.ad, after)
			total += n
			if err != nil {
				return total, err
			}
			if last == nil {
				break
			}
			after = last
		}
	}
	return total, nil
}

// rewrapBatch re-wraps up to rewrapBatch rows whose key comes after after (every row when after
// is nil), in key order; it returns the last key read, or nil when there were no more rows.
func (s *Store) rewrapBatch(ctx context.Context, table, column, key string, ad func(string) []byte, after any) (n int, last any, err error) {
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		last = nil
		where, args := "", []any{rewrapBatch}
		if after != nil {
			where, args = key+" > ? AND ", []any{after, rewrapBatch}
		}
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s, CAST(%s AS TEXT) AS key_text, %s FROM %s WHERE %s%s IS NOT NULL ORDER BY %s LIMIT ?`,
			key, key, column, table, where, column, key), args...)
		if err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		type row struct {
			key  any
			blob []byte
		}
		var todo []row
		for rows.Next() {
			var id any
			var k string
			var blob []byte
			if err := rows.Scan(&id, &k, &blob); err != nil {
				rows.Close()
				return err
			}
			last = id
			out, err := s.keys.Rewrap(blob, ad(k))
			if errors.Is(err, seal.ErrSamePrimary) {
				continue
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("re-wrap %s.%s row %s: %w", table, column, k, err)
			}
			todo = append(todo, row{id, out})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range todo {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ?`, table, column, key), r.blob, r.key); err != nil {
				return fmt.Errorf("write %s: %w", table, err)
			}
		}
		n = len(todo)
		return nil
	})
	return n, last, err
}

// KEKUse counts the stored values sealed under each KEK.
func (s *Store) KEKUse(ctx context.Context) (map[string]int, error) {
	use := map[string]int{}
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		for _, col := range sealedColumns {
			rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT substr(%s, 1, 80) FROM %s WHERE %s IS NOT NULL`, col.column, col.table, col.column))
			if err != nil {
				return fmt.Errorf("read %s: %w", col.table, err)
			}
			for rows.Next() {
				var head []byte
				if err := rows.Scan(&head); err != nil {
					rows.Close()
					return err
				}
				kid, err := seal.KeyID(head)
				if err != nil {
					kid = "(unreadable)"
				}
				use[kid]++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return use, err
}

// KEKs lists the key-encryption keys and how many stored values each seals.
func (s *Store) KEKs(ctx context.Context) ([]KEKInfo, error) {
	if err := s.keys.Reload(); err != nil {
		return nil, err
	}
	use, err := s.KEKUse(ctx)
	if err != nil {
		return nil, err
	}
	keys, primary, err := s.kekSrc.load()
	if err != nil {
		return nil, err
	}
	envIDs := s.envKEKIDs()
	var out []KEKInfo
	for _, k := range keys {
		src := "file"
		if slices.Contains(envIDs, k.ID) {
			src = "env"
		}
		out = append(out, KEKInfo{ID: k.ID, Primary: k.ID == primary, Source: src, InUse: use[k.ID]})
	}
	return out, nil
}

func (s *Store) envKEKIDs() []string {
	var ids []string
	for _, part := range strings.Split(s.kekSrc.env, ",") {
		if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(part)); err == nil && len(key) == seal.KeySize {
			ids = append(ids, kekID(key))
		}
	}
	return ids
}

// RetireKEK removes a KEK from the key file. It refuses the primary key and a key any stored
// value is still sealed under (run RewrapKEK first).
func (s *Store) RetireKEK(ctx context.Context, kid string) error {
	if err := s.keys.Reload(); err != nil {
		return err
	}
	if kid == s.keys.Primary() {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "Key %s is the primary key-encryption key; rotate to a new one first.", kid)
	}
	use, err := s.KEKUse(ctx)
	if err != nil {
		return err
	}
	if n := use[kid]; n > 0 {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "%d stored values are still sealed under key %s; run 'keys rewrap' first.", n, kid)
	}
	if slices.Contains(s.envKEKIDs(), kid) {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "Key %s comes from %s and no stored value uses it: remove it from the variable.", kid, KEKEnv)
	}
	f, err := readKeyFile(s.kekSrc.path)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(f.Keys, func(k keyFileKEK) bool { return k.ID == kid })
	if i < 0 {
		return syncer.Errorf(syncer.CodeNotFound, "No key-encryption key has id %q.", kid)
	}
	f.Keys = slices.Delete(f.Keys, i, i+1)
	if err := writeKeyFile(s.kekSrc.path, f); err != nil {
		return err
	}
	return s.keys.Reload()
}
