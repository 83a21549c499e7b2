package syncer

import "strconv"

// Decision is the decision visits rest on, as a decision record holds it: supervised (§ 105,
// with its period and purpose) or supported (§ 104, with the consents to written descriptions).
// The server writes it, the tablet and the pages read it: one shape for all of them.
type Decision struct {
	ID string `json:"id"`
	// Kind is supervised (§ 105) or supported (§ 104).
	Kind string `json:"kind"`
	// ConsentParents: the parents consented to written descriptions (supported visits).
	ConsentParents bool `json:"consent_parents"`
	// YoungPerson: a child of the case is 15 or over, whose consent is needed too.
	YoungPerson        bool `json:"young_person"`
	ConsentYoungPerson bool `json:"consent_young_person"`
	// FromMs and ToMs bound a supervised visit decision's period; Purpose is its purpose.
	FromMs  int64  `json:"from_ms"`
	ToMs    int64  `json:"to_ms"`
	Purpose string `json:"purpose"`
}

// ReadDecision reads a decision record with id whose fields value returns.
func ReadDecision(id string, value func(field string) string) Decision {
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(value(name), 10, 64)
		return n
	}
	return Decision{ID: id, Kind: value("kind"), ConsentParents: value("consent_parents") == "true",
		YoungPerson: value("young_person") == "true", ConsentYoungPerson: value("consent_young_person") == "true",
		FromMs: num("from_ms"), ToMs: num("to_ms"), Purpose: value("purpose")}
}

// Fields are the decision's record fields (all but the id).
func (d Decision) Fields() map[string]string {
	return map[string]string{
		"kind": d.Kind, "consent_parents": strconv.FormatBool(d.ConsentParents), "young_person": strconv.FormatBool(d.YoungPerson),
		"consent_young_person": strconv.FormatBool(d.ConsentYoungPerson),
		"from_ms":              strconv.FormatInt(d.FromMs, 10), "to_ms": strconv.FormatInt(d.ToMs, 10), "purpose": d.Purpose,
	}
}
