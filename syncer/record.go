package syncer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// A record's state is a *v1.CommittedChange holding all its fields sorted by name, with Seq the
// record's revision (the commit that last changed it). Both ends store it in this form, so the
// server's state and a tablet's state compare byte for byte.

// FieldOf returns the named field of a record, or nil.
func FieldOf(rec *v1.CommittedChange, name string) *v1.Field {
	if rec == nil {
		return nil
	}
	for _, f := range rec.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Value returns the named field's value, or "".
func Value(rec *v1.CommittedChange, name string) string {
	if f := FieldOf(rec, name); f != nil {
		return f.Value
	}
	return ""
}

// ApplyCommitted returns the record state after committed change ch: its fields replace the
// record's fields of the same name, and its deleted flag and seq become the record's. rec may be
// nil (a new record); it is not modified.
//
// Nothing older replaces anything newer: a field keeps its value when it already has a later
// revision, and the deleted flag follows the later of the two. So applying the same committed
// changes in any order, or twice, gives the same state — a snapshot of a record followed by
// log entries it already covers changes nothing.
func ApplyCommitted(rec, ch *v1.CommittedChange) *v1.CommittedChange {
	out := &v1.CommittedChange{Record: ch.Record, Deleted: ch.Deleted}
	if rec != nil {
		out = proto.Clone(rec).(*v1.CommittedChange)
		if ch.Seq >= rec.Seq {
			out.Deleted = ch.Deleted
		}
	}
	out.Seq = max(out.Seq, ch.Seq)
	for _, f := range ch.Fields {
		i, found := slices.BinarySearchFunc(out.Fields, f.Name, func(a *v1.Field, name string) int {
			return strings.Compare(a.Name, name)
		})
		switch {
		case found && out.Fields[i].Rev > f.Rev:
		case found:
			out.Fields[i] = proto.Clone(f).(*v1.Field)
		default:
			out.Fields = slices.Insert(out.Fields, i, proto.Clone(f).(*v1.Field))
		}
	}
	return out
}

// Stamp gives a change's effect its commit sequence: the seq, and the rev of every field it sets.
func Stamp(ch *v1.CommittedChange, seq int64) {
	ch.Seq = seq
	for _, f := range ch.Fields {
		f.Rev = seq
	}
}

// Digester computes a case's state digest: equal on every replica that holds the same records.
// Add the case's records in id order.
type Digester struct{ h hash.Hash }

// NewDigester returns an empty digester.
func NewDigester() *Digester { return &Digester{h: sha256.New()} }

func (d *Digester) str(s string) {
	var n [binary.MaxVarintLen64]byte
	d.h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	d.h.Write([]byte(s))
}

func (d *Digester) num(v uint64) {
	var n [binary.MaxVarintLen64]byte
	d.h.Write(n[:binary.PutUvarint(n[:], v)])
}

// Add adds one record's state.
func (d *Digester) Add(rec *v1.CommittedChange) {
	r := rec.GetRecord()
	d.str(r.GetType())
	d.str(r.GetId())
	d.str(r.GetCaseId())
	if rec.Deleted {
		d.num(1)
	} else {
		d.num(0)
	}
	d.num(uint64(rec.Seq))
	d.num(uint64(len(rec.Fields)))
	for _, f := range rec.Fields {
		d.str(f.Name)
		d.str(f.Value)
		d.num(uint64(f.Rev))
		d.num(f.Hlc)
		d.str(f.DeviceId)
	}
}

// Sum returns the digest as lowercase hex.
func (d *Digester) Sum() string { return hex.EncodeToString(d.h.Sum(nil)) }
