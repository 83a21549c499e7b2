package syncer

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// ValidateChange checks a tablet's change for its shape: known type and fields that a tablet may
// set, valid ids, sizes within limits, a sane clock. nowMs is the checker's time. The tablet runs
// it before a change reaches its outbox and the server runs it on every pushed change, so a
// stored change is never refused for its shape. Messages name the change and field, never a value.
func ValidateChange(c *v1.Change, nowMs int64) error {
	seq := c.GetDeviceSeq()
	if seq <= 0 {
		return Errorf(CodeInvalid, "A change has device sequence %d; sequences start at 1.", seq)
	}
	if c.SchemaVersion < MinSchemaVersion {
		return Errorf(CodeFailedPrecondition, "Change %d was made by an app too old for this server (schema version %d, oldest accepted %d): update the app.", seq, c.SchemaVersion, MinSchemaVersion)
	}
	if c.SchemaVersion > SchemaVersion {
		return Errorf(CodeInvalid, "Change %d has schema version %d, newer than this server understands (%d): update the server.", seq, c.SchemaVersion, SchemaVersion)
	}
	ref := c.GetRecord()
	spec, ok := Schema[ref.GetType()]
	if !ok {
		return Errorf(CodeInvalid, "Change %d is for an unknown record type %q.", seq, clip(ref.GetType()))
	}
	if !ValidID(ref.GetId()) {
		return Errorf(CodeInvalid, "Change %d has a malformed record id; ids are lowercase UUIDs.", seq)
	}
	if !ValidID(ref.GetCaseId()) {
		return Errorf(CodeInvalid, "Change %d has a malformed case id; ids are lowercase UUIDs.", seq)
	}
	if !pushable(spec.Name, c.Op, "") {
		return Errorf(CodeInvalid, "Change %d: a tablet cannot %s a %s record.", seq, opVerb(c.Op), spec.Name)
	}
	if c.Hlc == 0 {
		return Errorf(CodeInvalid, "Change %d has no clock time.", seq)
	}
	if ahead := HLC(c.Hlc).WallMs() - nowMs; ahead > MaxClockSkewMs {
		return Errorf(CodeInvalid, "Change %d is timed %d minutes ahead of the server's clock; set the tablet's clock right and sync again.", seq, ahead/60000)
	}
	if len(c.Fields) == 0 || len(c.Fields) > MaxFieldsPerEdit {
		return Errorf(CodeInvalid, "Change %d sets %d fields; a change sets 1 to %d.", seq, len(c.Fields), MaxFieldsPerEdit)
	}
	seen := make(map[string]bool, len(c.Fields))
	for _, f := range c.Fields {
		fs, ok := spec.Field(f.Name)
		if !ok {
			return Errorf(CodeInvalid, "Change %d sets an unknown field %q of a %s record.", seq, clip(f.Name), spec.Name)
		}
		if !pushable(spec.Name, c.Op, f.Name) && !pushable(spec.Name, otherOp(c.Op), f.Name) {
			return Errorf(CodeInvalid, "Change %d sets field %q of a %s record, which only the server sets.", seq, f.Name, spec.Name)
		}
		if seen[f.Name] {
			return Errorf(CodeInvalid, "Change %d sets field %q twice.", seq, f.Name)
		}
		seen[f.Name] = true
		if len(f.Value) > fs.MaxBytes() {
			return Errorf(CodeResourceExhausted, "Change %d: field %q is %d bytes; the limit is %d.", seq, f.Name, len(f.Value), fs.MaxBytes())
		}
		if !utf8.ValidString(f.Value) {
			return Errorf(CodeInvalid, "Change %d: field %q is not valid UTF-8 text.", seq, f.Name)
		}
		if f.BaseRev < 0 || f.AfterSeq < 0 || f.AfterSeq >= seq {
			return Errorf(CodeInvalid, "Change %d: field %q has an impossible base revision.", seq, f.Name)
		}
		if err := validValue(spec.Name, f.Name, f.Value); err != nil {
			return Errorf(CodeInvalid, "Change %d: %s", seq, err.Error())
		}
	}
	required := map[string][]string{TypeObservation: {"visit_id", "at_ms", "text"}, TypeAddendum: {"report_id", "visit_id", "text"}}
	if c.Op == v1.Op_OP_CREATE {
		for _, name := range required[spec.Name] {
			if !seen[name] {
				return Errorf(CodeInvalid, "Change %d creates a record of type %s without %q.", seq, spec.Name, name)
			}
		}
	}
	// A submission signs what the document holds: it sets its three fields together, and on an
	// existing document nothing else (the content it signs is already there).
	n := 0
	for _, name := range []string{"submitted_ms", "digest", "signature"} {
		if seen[name] {
			n++
		}
	}
	if n != 0 && (n != 3 || (c.Op == v1.Op_OP_UPDATE && len(c.Fields) != 3)) {
		return Errorf(CodeInvalid, "Change %d: a submission sets submitted_ms, digest and signature together, and nothing else.", seq)
	}
	return nil
}

// validValue checks register values that have a fixed form.
func validValue(typ, field, value string) error {
	switch {
	case field == "checked" || field == "resolved":
		if value != "true" && value != "false" {
			return Errorf(CodeInvalid, "field %q of a %s record must be true or false.", field, typ)
		}
	case field == "visit_id" || field == "report_id":
		if !ValidID(value) {
			return Errorf(CodeInvalid, "field %q of a %s record must be a record id.", field, typ)
		}
	case field == "at_ms" || field == "submitted_ms" || field == "actual_start_ms" || field == "actual_end_ms":
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return Errorf(CodeInvalid, "field %q of a %s record must be a time in Unix milliseconds.", field, typ)
		}
	case field == "text" && value == "":
		return Errorf(CodeInvalid, "a record of type %s needs text.", typ)
	case field == "digest":
		if b, err := hex.DecodeString(value); err != nil || len(b) != sha256.Size {
			return Errorf(CodeInvalid, "field %q of a %s record must be a SHA-256 digest in hex.", field, typ)
		}
	case field == "signature":
		if b, err := DecodeSignature(value); err != nil || len(b) != ed25519.SignatureSize {
			return Errorf(CodeInvalid, "field %q of a %s record must be an Ed25519 signature in base64.", field, typ)
		}
	case (field == MarkField || strings.HasSuffix(field, "__mark")) && value != "" && !slices.Contains(Marks, value):
		return Errorf(CodeInvalid, "field %q of a %s record is a mark for the parents' copy: %s, or empty for none.", field, typ, strings.Join(Marks, " or "))
	case field == "section" && value != "" && !slices.Contains(ReportSections, value):
		return Errorf(CodeInvalid, "field %q of a %s record must name a report section.", field, typ)
	}
	return nil
}

// otherOp is create for update and update for create: a field a tablet may set in either is
// not a server field (the operation is checked by MayPush).
func otherOp(op v1.Op) v1.Op {
	if op == v1.Op_OP_CREATE {
		return v1.Op_OP_UPDATE
	}
	return v1.Op_OP_CREATE
}

func opVerb(op v1.Op) string {
	switch op {
	case v1.Op_OP_CREATE:
		return "create"
	case v1.Op_OP_UPDATE:
		return "update"
	case v1.Op_OP_DELETE:
		return "delete"
	}
	return "apply an unknown operation to"
}

// clip shortens a name a client sent before it goes into an error message.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	if !utf8.ValidString(s) {
		return "(not UTF-8)"
	}
	return s
}
