package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The case form refuses a reference another case has, with a sentence and 409, and stores nothing.
func TestTheCaseFormRefusesADuplicateReference(t *testing.T) {
	s := newSite(t)
	s.user("sara", "caseworker")
	b := s.signedIn(s.user("cora", "coordinator"))
	form := func(child string) url.Values {
		return url.Values{"csrf": {b.csrf("/cases")}, "children": {child}, "reference": {"2026-0300"}, "caseworker": {"sara"}}
	}
	if code, _ := b.post("/cases", form("CHILD-ONE"), nil); code != http.StatusSeeOther {
		t.Fatalf("the first case: %d", code)
	}
	code, body := b.post("/cases", form("CHILD-TWO"), nil)
	if code != http.StatusConflict || !strings.Contains(body, "2026-0300") {
		t.Fatalf("a second case with the reference: %d\n%s", code, body)
	}
	cases, err := s.srv.Store.Cases(t.Context())
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases: %v %v", cases, err)
	}
}
