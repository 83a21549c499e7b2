package app

import (
	"testing"

	"github.com/samvaer/sync/syncer"
)

// The visit page offers what syncer.Rules lets the tablet's role do, in the report's state: a
// draft is written and submitted, a submitted report only gets addenda, and a supported visit
// without consent offers no submit.
func TestTheVisitPageOffersWhatTheRulesAllow(t *testing.T) {
	tests := []struct {
		name                                  string
		state                                 string
		consentMissing                        bool
		write, submit, addendum, observe, chk bool
	}{
		{"draft", syncer.StateDraft, false, true, true, false, true, true},
		{"draft without consent", syncer.StateDraft, true, true, false, false, true, true},
		{"submitted", syncer.StateSubmitted, false, false, false, true, true, true},
		{"acknowledged", syncer.StateAcknowledged, false, false, false, true, true, true},
	}
	for _, tt := range tests {
		vv := &visitView{ConsentMissing: tt.consentMissing}
		vv.ReportState = tt.state
		vv.Locked = tt.state != syncer.StateDraft
		vv.offer()
		if vv.CanWrite != tt.write || vv.CanSubmit != tt.submit || vv.CanAddendum != tt.addendum || vv.CanObserve != tt.observe || vv.CanCheck != tt.chk || !vv.CanVisit || !vv.CanResolve {
			t.Errorf("%s: offers %+v", tt.name, vv)
		}
	}
}
