package syncer

import (
	"strconv"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// Retention: the case system is the record of truth, so once a report is delivered what was
// written for it leaves the consultant's tablet — the report's text, its addenda, the parents'
// comments, the visit's observations and any conflict about them lose their sensitive fields;
// ids, states and times stay. The tablet applies it after each sync (clientlib's purge); the
// digest applies the same rule on both ends (HeldState), so equal digests mean "holds what it
// should hold" also after a purge.

// Retention says how long a delivered report's text stays on a tablet.
type Retention struct {
	// AfterAcknowledgedMs after the caseworker acknowledged it (0: at the next sync).
	AfterAcknowledgedMs int64
	// AfterSubmittedMs after it was submitted, if nobody acknowledges it.
	AfterSubmittedMs int64
}

// DefaultSubmittedRetentionMs is how long a submitted report nobody acknowledges stays: 14 days.
const DefaultSubmittedRetentionMs = 14 * 24 * 60 * 60 * 1000

// DefaultRetention is the rule of the product: gone once acknowledged, or 14 days after
// submission.
var DefaultRetention = Retention{AfterAcknowledgedMs: 0, AfterSubmittedMs: DefaultSubmittedRetentionMs}

// Due reports whether a report's time on a tablet is over at nowMs.
func (r Retention) Due(rep *v1.CommittedChange, nowMs int64) bool {
	at := func(field string) int64 {
		v, _ := strconv.ParseInt(Value(rep, field), 10, 64)
		return v
	}
	switch State(rep) {
	case StateAcknowledged:
		return at("acknowledged_ms")+r.AfterAcknowledgedMs <= nowMs
	case StateSubmitted:
		return at("submitted_ms")+r.AfterSubmittedMs <= nowMs
	}
	return false
}

// ReportFamily is what leaves a tablet with a report: the report, its visit's addenda, parents'
// comments and observations, and the conflicts about any of them, taken from caseRecs (the
// records of the report's case).
func ReportFamily(rep *v1.CommittedChange, caseRecs []*v1.CommittedChange) []*v1.CommittedChange {
	visit := Value(rep, "visit_id")
	out := []*v1.CommittedChange{rep}
	ids := map[string]bool{rep.Record.Id: true}
	for _, r := range caseRecs {
		switch r.Record.Type {
		case TypeAddendum, TypeParentComment, TypeObservation:
			if visit != "" && Value(r, "visit_id") == visit {
				out = append(out, r)
				ids[r.Record.Id] = true
			}
		}
	}
	for _, r := range caseRecs {
		if r.Record.Type == TypeConflict && ids[Value(r, "record_id")] {
			out = append(out, r)
		}
	}
	return out
}

// SensitiveField reports whether a record's field holds what a person wrote (unknown fields
// count as sensitive).
func SensitiveField(typ, field string) bool {
	spec, ok := Schema[typ]
	if !ok {
		return true
	}
	f, ok := spec.Field(field)
	return !ok || f.Sensitive
}

// Stripped returns rec without its sensitive fields (a copy; rec is not changed).
func Stripped(rec *v1.CommittedChange) *v1.CommittedChange {
	out := &v1.CommittedChange{Record: rec.Record, Seq: rec.Seq, Deleted: rec.Deleted}
	for _, f := range rec.Fields {
		if !SensitiveField(rec.Record.GetType(), f.Name) {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

// HeldState is a case's records (caseRecs, all of one case) as a device that holds the case
// keeps them once the retention rule has run at nowMs: every due report's family stripped. The
// order of caseRecs is kept.
func HeldState(caseRecs []*v1.CommittedChange, nowMs int64, r Retention) []*v1.CommittedChange {
	strip := map[string]bool{}
	for _, rep := range caseRecs {
		if rep.Record.Type == TypeReport && r.Due(rep, nowMs) {
			for _, m := range ReportFamily(rep, caseRecs) {
				strip[m.Record.Id] = true
			}
		}
	}
	out := make([]*v1.CommittedChange, len(caseRecs))
	for i, rec := range caseRecs {
		out[i] = rec
		if strip[rec.Record.Id] {
			out[i] = Stripped(rec)
		}
	}
	return out
}
