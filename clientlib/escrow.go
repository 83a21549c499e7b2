package clientlib

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// Receipts and escrow on the tablet (server/receipts.go has the design). The server answers every
// change it takes with a receipt, which the tablet keeps beside the change and sends with it if it
// ever sends the change again: a server restored from a backup that lost the change takes it
// again, even when the restore also lost the assignment that allowed it. When a case leaves the
// tablet, what the tablet keeps of its acknowledged changes there is not deleted but sealed to the
// server's escrow key, which only the server can open: nothing of the case stays readable on the
// tablet, and a server restored from an older backup still gets the changes back. Escrowed
// changes are kept as long as any acknowledged change (Options.KeepAcknowledged).

// metaEscrowKey holds the server's escrow public key (hex), from its pulls.
const metaEscrowKey = "escrow_key"

// escrowKeyOf is the escrow key a page names, or else the one the tablet last heard.
func escrowKeyOf(ctx context.Context, q querier, page *v1.PullResponse) (*[32]byte, error) {
	key := page.GetEscrowKey()
	if len(key) != 32 {
		v, found, err := metaValue(ctx, q, metaEscrowKey)
		if err != nil {
			return nil, fmt.Errorf("read escrow key: %w", err)
		}
		if !found {
			return nil, nil // a server that keeps no escrow
		}
		if key, err = hex.DecodeString(v); err != nil || len(key) != 32 {
			return nil, fmt.Errorf("read escrow key: malformed")
		}
	}
	return (*[32]byte)(key), nil
}

// leaveCase purges a case the user may no longer see, sealing first its acknowledged changes to
// the server's escrow key (none when the tablet knows no key).
func (t *Tablet) leaveCase(ctx context.Context, tx *sql.Tx, page *v1.PullResponse, caseID string) error {
	key, err := escrowKeyOf(ctx, tx, page)
	if err != nil {
		return err
	}
	if key != nil {
		for _, table := range []string{"outbox", "acknowledged"} {
			if err := t.store.escrowChanges(ctx, tx, table, caseID, key); err != nil {
				return err
			}
		}
	}
	return t.store.purgeCase(ctx, tx, caseID)
}

// escrowChanges seals, in table (outbox or acknowledged), every change to caseID the server has
// a receipt for: acknowledged (its receipt beside it) or waiting to be sent again to a restored
// server (its receipt inside it). The row stays under its seq, with no record id and only the
// sealed box readable to the server, so the case's purge leaves it and a resend carries it.
func (s *store) escrowChanges(ctx context.Context, tx *sql.Tx, table, caseID string, key *[32]byte) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, change, receipt FROM `+table+` WHERE record_id != ''`)
	if err != nil {
		return fmt.Errorf("escrow changes: %w", err)
	}
	sealed := map[int64][]byte{}
	for rows.Next() {
		var seq int64
		var blob, receipt []byte
		if err := rows.Scan(&seq, &blob, &receipt); err != nil {
			rows.Close()
			return err
		}
		c, err := s.decodeChange(seq, blob)
		if err != nil || c.Record.GetCaseId() != caseID {
			continue // one that cannot be read is purged with the case, as before
		}
		if receipt != nil {
			r := &v1.Receipt{}
			if proto.Unmarshal(receipt, r) == nil {
				c.Receipt = r
			}
		}
		if c.Receipt == nil {
			continue // never taken by the server: it goes with the case
		}
		plain, err := proto.Marshal(c)
		if err != nil {
			rows.Close()
			return err
		}
		box, err := box.SealAnonymous(nil, plain, key, rand.Reader)
		if err != nil {
			rows.Close()
			return fmt.Errorf("escrow change %d: %w", seq, err)
		}
		if sealed[seq], err = s.encodeChange(&v1.Change{DeviceSeq: seq, Escrow: box}); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	set := `record_id = '', change = ?, bases = NULL, receipt = NULL`
	if table == "outbox" {
		set += `, field_names = ',,'`
	}
	for seq, blob := range sealed {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+set+` WHERE seq = ?`, blob, seq); err != nil {
			return fmt.Errorf("escrow change %d: %w", seq, err)
		}
	}
	return nil
}

// attachReceipts gives each entry to be sent again the receipt kept beside it, if any.
func (s *store) attachReceipts(ctx context.Context, tx *sql.Tx, entries []outboxEntry) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, receipt FROM outbox WHERE receipt IS NOT NULL
		UNION ALL SELECT seq, receipt FROM acknowledged WHERE receipt IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read receipts: %w", err)
	}
	defer rows.Close()
	receipts := map[int64][]byte{}
	for rows.Next() {
		var seq int64
		var blob []byte
		if err := rows.Scan(&seq, &blob); err != nil {
			return err
		}
		receipts[seq] = blob
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		if blob, ok := receipts[e.seq]; ok {
			r := &v1.Receipt{}
			if err := proto.Unmarshal(blob, r); err != nil {
				return fmt.Errorf("read receipt of change %d: %w", e.seq, err)
			}
			e.change.Receipt = r
		}
	}
	return nil
}

// receiptHex is a result's receipt as the settling statement takes it (nil for none).
func receiptHex(r *v1.ChangeResult) (any, error) {
	if r.Receipt == nil {
		return nil, nil
	}
	b, err := proto.Marshal(r.Receipt)
	if err != nil {
		return nil, err
	}
	return hex.EncodeToString(b), nil
}
