package syncer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// A report (and an addendum) is a document with a lifecycle: draft → submitted (signed by the
// tablet's device key, accepted by the server, locked) → acknowledged by the caseworker. Once
// submitted nothing in it changes: a later edit becomes an addendum draft (see Merge).

// Document states, the value of the "state" field ("" is a draft).
const (
	StateDraft        = "draft"
	StateSubmitted    = "submitted"
	StateAcknowledged = "acknowledged"
)

// Visit kinds.
const (
	KindSupervised = "supervised" // overvåget samvær, Barnets Lov § 105
	KindSupported  = "supported"  // støttet samvær, Barnets Lov § 104
)

// DefaultReportOverdueMs is how long after a supervised visit's end its report is overdue.
const DefaultReportOverdueMs = 72 * 60 * 60 * 1000

// State is a document's state; a record without one is a draft.
func State(rec *v1.CommittedChange) string {
	if s := Value(rec, "state"); s != "" {
		return s
	}
	return StateDraft
}

// Locked reports whether a record is a submitted document, which no edit changes any more.
func Locked(rec *v1.CommittedChange) bool {
	if t := rec.GetRecord().GetType(); t != TypeReport && t != TypeAddendum {
		return false
	}
	s := State(rec)
	return s == StateSubmitted || s == StateAcknowledged
}

// IsSubmission reports whether a change signs a document (sets its signature).
func IsSubmission(c *v1.Change) bool {
	for _, f := range c.Fields {
		if f.Name == "signature" {
			return true
		}
	}
	return false
}

// DocumentDigest is the hex SHA-256 of what a signature covers: a report's sections in template
// order, or an addendum's report, section and text. value gives a field's value.
func DocumentDigest(typ string, value func(field string) string) string {
	h := sha256.New()
	put := func(s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	put(typ)
	names := ReportSections
	if typ == TypeAddendum {
		names = []string{"report_id", "section", "text"}
	}
	for _, name := range names {
		put(name)
		put(value(name))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SubmissionPayload is the exact byte string a tablet signs with its device key to submit a
// document, and the server verifies: the document, the device, the content digest and the time.
func SubmissionPayload(typ, recordID, deviceID, digest string, atMs int64) []byte {
	return []byte("samvaer-submission-v1\n" + typ + "\n" + recordID + "\n" + deviceID + "\n" + digest + "\n" + strconv.FormatInt(atMs, 10))
}

// DecodeSignature decodes a submission's signature field.
func DecodeSignature(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// EncodeSignature encodes a signature for the signature field.
func EncodeSignature(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// DecisionFor picks the decision a visit rests on: the one it names, otherwise the newest of the
// case's decisions of the visit's kind (ids are time-ordered). nil when there is none.
func DecisionFor(visit *v1.CommittedChange, decisions []*v1.CommittedChange) *v1.CommittedChange {
	var best *v1.CommittedChange
	named := Value(visit, "decision_id")
	for _, d := range decisions {
		if d.Deleted || d.Record.GetType() != TypeDecision {
			continue
		}
		if named != "" {
			if d.Record.Id == named {
				return d
			}
			continue
		}
		if Value(d, "kind") == Value(visit, "kind") && (best == nil || d.Record.Id > best.Record.Id) {
			best = d
		}
	}
	return best
}

// WrittenDescriptionsAllowed is the consent rule: a report on a supported visit (§ 104) may be
// submitted only where the parents — and a young person of 15 or over — consented to written
// descriptions. Without consent, what was noted stays the consultant's internal notes. Both the
// tablet (before sync) and the server (after) apply it.
func WrittenDescriptionsAllowed(visit, decision *v1.CommittedChange) error {
	if Value(visit, "kind") != KindSupported {
		return nil
	}
	id := visit.GetRecord().GetId()
	if Value(decision, "consent_parents") != "true" {
		return Errorf(CodeFailedPrecondition, "Visit %s is a supported visit (Barnets Lov § 104) and the parents have not consented to written descriptions: no report can be submitted; the observations stay internal notes.", id)
	}
	if Value(decision, "young_person") == "true" && Value(decision, "consent_young_person") != "true" {
		return Errorf(CodeFailedPrecondition, "Visit %s is a supported visit (Barnets Lov § 104) and the young person (15 or over) has not consented to written descriptions: no report can be submitted; the observations stay internal notes.", id)
	}
	return nil
}

// ReportOverdue reports whether a visit's report is overdue at nowMs: a supervised visit needs a
// report after every visit, and one not submitted overdueMs after the visit's end is overdue.
func ReportOverdue(visit, report *v1.CommittedChange, overdueMs, nowMs int64) bool {
	if Value(visit, "kind") != KindSupervised || State(report) != StateDraft || Cancelled(visit) {
		return false
	}
	end, err := strconv.ParseInt(Value(visit, "end_ms"), 10, 64)
	return err == nil && nowMs > end+overdueMs
}

// lockedUpdate is the outcome of an edit that arrives for a submitted document: nothing in the
// document changes; each text the edit would have changed becomes an addendum draft for the
// report, so nothing written is lost and nothing submitted changes.
func lockedUpdate(cur *v1.CommittedChange, c *v1.Change, device string) Outcome {
	typ := cur.Record.Type
	if IsSubmission(c) {
		return reject("Change %d submits a %s that is already submitted.", c.DeviceSeq, typ)
	}
	reportID, section := cur.Record.Id, ""
	if typ == TypeAddendum {
		reportID, section = Value(cur, "report_id"), Value(cur, "section")
	}
	spec := Schema[typ]
	out := Outcome{Result: v1.Result_RESULT_MERGED,
		Reason: fmt.Sprintf("Change %d edits a %s that was already submitted; it stays as submitted.", c.DeviceSeq, typ)}
	for _, e := range c.Fields {
		fs, _ := spec.Field(e.Name)
		if fs.Rule != Text || e.Value == Value(cur, e.Name) {
			continue
		}
		s := section
		if typ == TypeReport {
			s = e.Name
		}
		out.Addenda = append(out.Addenda, addendumDraft(cur, reportID, s, e.Value, device, c.Hlc))
		out.Result = v1.Result_RESULT_CONFLICT
		out.Reason = fmt.Sprintf("Change %d edits a %s that was already submitted and is locked; the text was kept as an addendum draft.", c.DeviceSeq, typ)
	}
	return out
}

// addendumDraft is a new addendum holding text written for a locked document.
func addendumDraft(cur *v1.CommittedChange, reportID, section, text, device string, hlc uint64) *v1.CommittedChange {
	f := func(name, value string) *v1.Field {
		return &v1.Field{Name: name, Value: value, Hlc: hlc, DeviceId: device}
	}
	return &v1.CommittedChange{
		Record: &v1.RecordRef{Type: TypeAddendum, Id: NewID(), CaseId: cur.Record.CaseId},
		// Sorted by name, as every stored record's fields are.
		Fields: []*v1.Field{
			f("report_id", reportID),
			f("section", section),
			f("state", StateDraft),
			f("text", text),
			f("visit_id", Value(cur, "visit_id")),
		},
	}
}

// Cancelled reports whether a visit was cancelled (its cancelled_ms is set). A cancelled visit
// keeps everything written for it — its checklist, observations and report stay, shown with the
// cancellation — and a tablet's offline work on it is applied like any other: nothing a person
// wrote disappears because the plan changed.
func Cancelled(visit *v1.CommittedChange) bool { return Value(visit, "cancelled_ms") != "" }
