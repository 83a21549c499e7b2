package syncer

import "testing"

// A decision written by the server reads back the same on the tablet and in the pages.
func TestADecisionReadsBackAsWritten(t *testing.T) {
	d := Decision{ID: "0193a1b2-0000-7000-8000-000000000001", Kind: KindSupported, ConsentParents: true, YoungPerson: true,
		ConsentYoungPerson: false, FromMs: 1_800_000_000_000, ToMs: 1_810_000_000_000, Purpose: "Forældrene øver grænser."}
	f := d.Fields()
	if got := ReadDecision(d.ID, func(name string) string { return f[name] }); got != d {
		t.Fatalf("read back %+v, want %+v", got, d)
	}
}
