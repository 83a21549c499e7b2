package syncer

import (
	"fmt"
	"strconv"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// History answers what the merge needs to know about the past. The server implements it over its
// change log.
type History interface {
	// ValueAt returns the value a record's field had at revision rev (the commit that set it);
	// "" for rev 0.
	ValueAt(recordID, field string, rev int64) (string, error)
	// OwnEdit returns what a device's earlier change seq did to a field: the value it submitted,
	// and the revision it produced when that value was committed as is (0 when it was merged,
	// lost or rejected). found is false when the server never saw that change.
	OwnEdit(deviceID string, seq int64, recordID, field string) (submitted string, rev int64, found bool, err error)
}

// Outcome is what the server does with one pushed change.
type Outcome struct {
	Result v1.Result
	Reason string
	// Effect is the committed change to the record (its Seq and field revs still 0; see Stamp),
	// or nil when the record does not change.
	Effect *v1.CommittedChange
	// Conflicts are new conflict records, one per concurrent field edit that lost or overlapped:
	// the side not kept, so nothing a person wrote is lost.
	Conflicts []*v1.CommittedChange
	// Addenda are new addendum drafts holding text an edit wrote for a submitted (locked)
	// document, which the edit does not change.
	Addenda []*v1.CommittedChange
}

// Merge decides the outcome of change c from device on record cur (nil if it does not exist).
// It is deterministic: the same inputs give the same outcome on every machine.
func Merge(cur *v1.CommittedChange, c *v1.Change, device string, hist History) (Outcome, error) {
	ref := c.Record
	switch {
	case c.Op == v1.Op_OP_CREATE && cur != nil:
		return reject("Change %d creates record %s, which already exists.", c.DeviceSeq, ref.Id), nil
	case c.Op != v1.Op_OP_CREATE && cur == nil:
		return reject("Change %d is for a %s record the server does not have.", c.DeviceSeq, ref.Type), nil
	case cur != nil && cur.Record.CaseId != ref.CaseId:
		return reject("Change %d names the wrong case for its record.", c.DeviceSeq), nil
	case cur != nil && cur.Record.Type != ref.Type:
		return reject("Change %d names the wrong type for its record.", c.DeviceSeq), nil
	}
	switch c.Op {
	case v1.Op_OP_CREATE:
		eff := &v1.CommittedChange{Record: ref}
		for _, e := range c.Fields {
			eff.Fields = append(eff.Fields, &v1.Field{Name: e.Name, Value: e.Value, Hlc: c.Hlc, DeviceId: device})
		}
		return Outcome{Result: v1.Result_RESULT_APPLIED, Effect: eff}, nil
	case v1.Op_OP_DELETE:
		if cur.Deleted {
			return Outcome{Result: v1.Result_RESULT_APPLIED}, nil
		}
		if cur.Seq > c.BaseRev {
			// An edit the deleting person never saw: the edit wins, the record stays.
			return Outcome{Result: v1.Result_RESULT_CONFLICT,
				Reason: fmt.Sprintf("Change %d deletes a %s record that was edited after it was last seen; the record was kept.", c.DeviceSeq, ref.Type)}, nil
		}
		return Outcome{Result: v1.Result_RESULT_APPLIED, Effect: &v1.CommittedChange{Record: ref, Deleted: true}}, nil
	case v1.Op_OP_UPDATE:
		if Locked(cur) && !cur.Deleted {
			return lockedUpdate(cur, c, device), nil
		}
		return mergeUpdate(cur, c, device, hist)
	}
	return reject("Change %d has an unknown operation.", c.DeviceSeq), nil
}

func mergeUpdate(cur *v1.CommittedChange, c *v1.Change, device string, hist History) (Outcome, error) {
	spec := Schema[c.Record.Type]
	out := Outcome{Result: v1.Result_RESULT_APPLIED}
	eff := &v1.CommittedChange{Record: c.Record}
	if cur.Deleted {
		// An edit beats a delete: the record comes back with the edit.
		out.Result = v1.Result_RESULT_MERGED
		out.Reason = fmt.Sprintf("Change %d edits a %s record that had been deleted; the edit restored it.", c.DeviceSeq, c.Record.Type)
	}
	for _, e := range c.Fields {
		fs, _ := spec.Field(e.Name)
		curF := FieldOf(cur, e.Name)
		if curF == nil {
			curF = &v1.Field{Name: e.Name}
		}
		set := func(value string) {
			eff.Fields = append(eff.Fields, &v1.Field{Name: e.Name, Value: value, Hlc: c.Hlc, DeviceId: device})
		}
		base, concurrent, err := baseOf(cur, curF, e, device, hist)
		if err != nil {
			return Outcome{}, err
		}
		if !concurrent {
			set(e.Value)
			continue
		}
		if e.BaseLost && fs.Rule == Text {
			// What the editor saw was lost with a restored server's commits: merging could undo
			// a deletion the editor made, so a person decides (v1.FieldEdit.base_lost).
			out.Conflicts = append(out.Conflicts, conflictRecord(cur, curF, e.Value, device, c.Hlc, "text", "false"))
			out.Result = worse(out.Result, v1.Result_RESULT_CONFLICT)
			out.Reason = fmt.Sprintf("Change %d: field %q was based on text the restored server no longer has; both versions are kept and a conflict awaits a person.", c.DeviceSeq, e.Name)
			continue
		}
		if e.Value == curF.Value {
			out.Result = worse(out.Result, v1.Result_RESULT_MERGED)
			continue
		}
		switch fs.Rule {
		case Register:
			if later(c.Hlc, device, curF.Hlc, curF.DeviceId) {
				set(e.Value)
				out.Conflicts = append(out.Conflicts, conflictRecord(cur, curF, curF.Value, curF.DeviceId, curF.Hlc, "register", "true"))
				out.Result = worse(out.Result, v1.Result_RESULT_MERGED)
			} else {
				out.Conflicts = append(out.Conflicts, conflictRecord(cur, curF, e.Value, device, c.Hlc, "register", "true"))
				out.Result = worse(out.Result, v1.Result_RESULT_CONFLICT)
				out.Reason = fmt.Sprintf("Change %d: field %q was set later on another device; that value was kept and yours is in the record's history.", c.DeviceSeq, e.Name)
			}
		case Text:
			if merged, ok := MergeText(base, curF.Value, e.Value); ok {
				set(merged)
				out.Result = worse(out.Result, v1.Result_RESULT_MERGED)
			} else {
				out.Conflicts = append(out.Conflicts, conflictRecord(cur, curF, e.Value, device, c.Hlc, "text", "false"))
				out.Result = worse(out.Result, v1.Result_RESULT_CONFLICT)
				out.Reason = fmt.Sprintf("Change %d: field %q was edited at the same place on another device; both versions are kept and a conflict awaits a person.", c.DeviceSeq, e.Name)
			}
		}
	}
	if len(eff.Fields) > 0 || cur.Deleted {
		out.Effect = eff
	}
	return out, nil
}

// baseOf finds the text the editor started from and whether the edit is concurrent with the
// field's current value.
func baseOf(cur *v1.CommittedChange, curF *v1.Field, e *v1.FieldEdit, device string, hist History) (base string, concurrent bool, err error) {
	if e.AfterSeq != 0 {
		sub, rev, found, err := hist.OwnEdit(device, e.AfterSeq, cur.Record.Id, e.Name)
		if err != nil {
			return "", false, err
		}
		if found {
			// The editor continued their own earlier edit: concurrent only if someone else
			// changed the field since that edit was committed as is.
			return sub, !(rev != 0 && curF.Rev == rev), nil
		}
	}
	if e.BaseLost {
		return "", true, nil
	}
	if e.BaseRev == curF.Rev {
		return "", false, nil
	}
	base, err = hist.ValueAt(cur.Record.Id, e.Name, e.BaseRev)
	return base, true, err
}

// later reports whether (hlc, device) orders after (otherHLC, otherDevice): the later clock wins,
// the device id breaks ties, so every replica picks the same winner.
func later(hlc uint64, device string, otherHLC uint64, otherDevice string) bool {
	if hlc != otherHLC {
		return hlc > otherHLC
	}
	return device > otherDevice
}

// conflictRecord keeps the side of a concurrent edit that is not the field's value.
func conflictRecord(cur *v1.CommittedChange, curF *v1.Field, other, otherDevice string, otherHLC uint64, rule, resolved string) *v1.CommittedChange {
	f := func(name, value string) *v1.Field {
		return &v1.Field{Name: name, Value: value, DeviceId: ServerDevice}
	}
	return &v1.CommittedChange{
		Record: &v1.RecordRef{Type: TypeConflict, Id: NewID(), CaseId: cur.Record.CaseId},
		// Sorted by name, as every stored record's fields are.
		Fields: []*v1.Field{
			f("field", curF.Name),
			f("kept_rev", strconv.FormatInt(curF.Rev, 10)),
			f("other_device", otherDevice),
			f("other_hlc", strconv.FormatUint(otherHLC, 10)),
			f("other_value", other),
			f("record_id", cur.Record.Id),
			f("record_type", cur.Record.Type),
			f("resolved", resolved),
			f("rule", rule),
		},
	}
}

// worse returns the less clean of two results.
func worse(a, b v1.Result) v1.Result { return max(a, b) }

func reject(format string, args ...any) Outcome {
	return Outcome{Result: v1.Result_RESULT_REJECTED, Reason: fmt.Sprintf(format, args...)}
}
