package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// Receipts and escrow: how a restored server gets back an acknowledged change whose permission
// the restore lost too (docs/architecture.md, "Restores").
//
// A server restored from a backup older than an assignment no longer knows that the consultant
// was assigned, and would refuse the changes her tablet sends again; and a case that left her
// tablet (she was taken off it) took the tablet's copies with it. Either way an acknowledged
// change was lost for everyone. So:
//
//   - Every change the server takes is answered with a receipt: a MAC, under a secret of the
//     database, over the device, the change's content and the commit (seq, mark) holding its
//     effect. The tablet keeps it with the change.
//   - A change sent again with a receipt that verifies, whose commit the log no longer holds
//     (the server lost it), is taken as it was taken then: the rules were checked when it was
//     first pushed. A receipt whose commit the log still holds grants nothing, so a receipt
//     cannot be used to write into a case one has left.
//   - When a case leaves a tablet, what it keeps of its acknowledged changes in that case is
//     sealed to the server's escrow key (an anonymous NaCl box): the tablet can no longer read
//     it, a stolen tablet gives nothing of the case away, and a restored server can open it.
//     It is kept as long as any acknowledged change (clientlib.Options.KeepAcknowledged).

// escrowKeyName names the server's escrow private key (X25519) in server_secrets.
const escrowKeyName = "escrow_key"

// receiptDomain separates receipt MACs from the content hashes made with the same key.
const receiptDomain = "samvaer receipt v1\x00"

// escrowKey is the server's escrow key pair.
type escrowKey struct {
	public, private [32]byte
}

// loadSecrets reads the content hash key and the escrow key, making them on a database that has
// none. They are made when the server first starts, not when first needed, so every backup holds
// them: a restored server that made them anew could not verify its receipts nor open escrows.
func (s *Store) loadSecrets(ctx context.Context) error {
	hashKey, err := s.secret(ctx, contentHashKeyName)
	if err != nil {
		return err
	}
	s.hashKey, s.receiptKey = hashKey, receiptKey(hashKey)
	priv, err := s.secret(ctx, escrowKeyName)
	if err != nil {
		return err
	}
	k := &escrowKey{}
	copy(k.private[:], priv)
	pub, err := curve25519.X25519(priv, curve25519.Basepoint)
	if err != nil {
		return fmt.Errorf("escrow key: %w", err)
	}
	copy(k.public[:], pub)
	s.escrow = k
	return nil
}

// secret reads the 32-byte server secret name, made at random if the database has none.
func (s *Store) secret(ctx context.Context, name string) ([]byte, error) {
	read := func(q querier) ([]byte, error) {
		var blob []byte
		err := q.QueryRowContext(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&blob)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return blob, err
	}
	blob, err := read(s.read)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if blob == nil {
		err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
			if blob, err = read(tx); err != nil || blob != nil {
				return err // another instance made it first
			}
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return err
			}
			if blob, err = s.sealer.Seal(key, secretAD(name)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO server_secrets (name, value) VALUES (?, ?)`, name, blob)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("make %s: %w", name, err)
		}
	}
	key, err := s.sealer.Open(blob, secretAD(name))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("open %s: %v", name, err)
	}
	return key, nil
}

// EscrowPublicKey is the key tablets seal escrowed changes to.
func (s *Store) EscrowPublicKey() []byte { return s.escrow.public[:] }

// openEscrowed replaces every escrowed change of a push by the change it holds, renumbered to the
// seq it was sent under. Its base revisions named commits the tablet can no longer tell the
// server about (it cannot read the change), so every edit is taken as based on lost text: the
// server keeps a text edit as a conflict side instead of merging it over someone's later words.
func (s *Store) openEscrowed(changes []*v1.Change) error {
	for i, c := range changes {
		if len(c.Escrow) == 0 {
			continue
		}
		if c.Record != nil || len(c.Fields) > 0 || c.Receipt != nil {
			return syncer.Errorf(syncer.CodeInvalid, "Change %d is a kept change with fields besides its sequence number.", c.DeviceSeq)
		}
		inner, err := s.OpenEscrow(c.Escrow)
		if err != nil {
			return syncer.Errorf(syncer.CodeInvalid, "Change %d is a kept change this server cannot open (it was sealed for another server, or damaged).", c.DeviceSeq)
		}
		inner.DeviceSeq = c.DeviceSeq
		for _, f := range inner.Fields {
			f.BaseLost = f.BaseLost || f.BaseRev > 0
			f.BaseRev, f.AfterSeq = 0, 0
		}
		changes[i] = inner
	}
	return nil
}

// OpenEscrow opens a change a tablet sealed to this server's escrow key (Change.escrow): the
// change as the tablet kept it, with its receipt.
func (s *Store) OpenEscrow(sealed []byte) (*v1.Change, error) {
	plain, ok := box.OpenAnonymous(nil, sealed, &s.escrow.public, &s.escrow.private)
	if !ok {
		return nil, errors.New("not sealed to this server's escrow key")
	}
	inner := &v1.Change{}
	if err := proto.Unmarshal(plain, inner); err != nil || len(inner.Escrow) > 0 || inner.Receipt == nil || inner.Record == nil {
		return nil, errors.New("not an escrowed change")
	}
	return inner, nil
}

// receiptKey is the key of receipts, derived from the content hash key (a backup carries both).
func receiptKey(hashKey []byte) []byte {
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte(receiptDomain))
	return m.Sum(nil)
}

// receipts makes the receipts of one push, reusing its MAC, buffer and canonical change.
type receipts struct {
	mac       hash.Hash
	buf       []byte
	canonical v1.Change
	edits     []v1.FieldEdit
	ptrs      []*v1.FieldEdit
}

func newReceipts(key []byte) *receipts {
	return &receipts{mac: hmac.New(sha256.New, key)}
}

// sum is the MAC of a receipt for device's change c committed at (serverSeq, mark). It covers
// what a person wrote and where, not the numbers a resend changes (the device seq, base
// revisions, continuations).
func (r *receipts) sum(device string, c *v1.Change, serverSeq, mark int64) ([]byte, error) {
	r.edits, r.ptrs = r.edits[:0], r.ptrs[:0]
	for _, f := range c.Fields {
		r.edits = append(r.edits, v1.FieldEdit{Name: f.Name, Value: f.Value})
	}
	for i := range r.edits {
		r.ptrs = append(r.ptrs, &r.edits[i])
	}
	r.canonical = v1.Change{Record: c.Record, Op: c.Op, Hlc: c.Hlc, SchemaVersion: c.SchemaVersion, Fields: r.ptrs}
	var err error
	if r.buf, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(r.buf[:0], &r.canonical); err != nil {
		return nil, fmt.Errorf("receipt for change %d: %w", c.DeviceSeq, err)
	}
	r.mac.Reset()
	r.mac.Write([]byte(device))
	r.mac.Write([]byte{0})
	var nums [16]byte
	binary.BigEndian.PutUint64(nums[:8], uint64(serverSeq))
	binary.BigEndian.PutUint64(nums[8:], uint64(mark))
	r.mac.Write(nums[:])
	r.mac.Write(r.buf)
	return r.mac.Sum(nil), nil
}

// give adds a receipt to a result that took the change.
func (r *receipts) give(device string, c *v1.Change, res *v1.ChangeResult, mark int64) error {
	if res.ServerSeq == 0 {
		return nil
	}
	mac, err := r.sum(device, c, res.ServerSeq, mark)
	if err != nil {
		return err
	}
	res.Receipt = &v1.Receipt{ServerSeq: res.ServerSeq, Mark: mark, Mac: mac}
	return nil
}

// lostWithReceipt reports whether c carries a receipt of this server for this device whose commit
// the log no longer holds: the server took the change once and lost it in a restore.
func lostWithReceipt(log *commitLog, rc *receipts, device string, c *v1.Change) (bool, error) {
	r := c.Receipt
	if r == nil || r.ServerSeq <= 0 {
		return false, nil
	}
	want, err := rc.sum(device, c, r.ServerSeq, r.Mark)
	if err != nil || !hmac.Equal(want, r.Mac) {
		return false, err
	}
	if err := log.flush(); err != nil {
		return false, err
	}
	mark, found, err := markAt(log.ctx, log.tx, r.ServerSeq)
	if err != nil {
		return false, err
	}
	return !found || mark != r.Mark, nil
}
