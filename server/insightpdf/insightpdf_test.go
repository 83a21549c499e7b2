package insightpdf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/samvaer/sync/internal/i18n"
)

// Every kind of use has its own words in every language (a missing one would show its id), and
// a PDF is written for an empty export and a full one.
func TestEveryUseHasWordsAndThePDFIsWritten(t *testing.T) {
	entries := []Entry{
		{Kind: "case.read", What: "case 1"}, {Kind: "case.read", What: "report 1"}, {Kind: "search", What: "report list"},
		{Kind: "search", What: "audit log"}, {Kind: "export", Format: "pdf"}, {Kind: "export", Format: "parents_copy"},
		{Kind: "export", Format: "csv"}, {Kind: "export", Format: "insight-pdf"}, {Kind: "case.changed", Count: "1"},
		{Kind: "case.deleted", Count: "12"}, {Kind: "unknown"},
	}
	for _, lang := range i18n.Languages {
		w := Words(lang.String(), nil)
		seen := map[string]bool{}
		for _, e := range entries {
			use := Use(w, e)
			if use == "" || strings.Contains(use, "insight.") || seen[use] {
				t.Fatalf("%s: %+v reads %q", lang, e, use)
			}
			seen[use] = true
		}
	}
	if got := Use(Words("", nil), Entry{Kind: "case.deleted", Count: "12"}); got != "Oplysninger slettet (12 oplysninger)" {
		t.Fatalf("Danish by default: %q", got)
	}
	for _, in := range []Insight{{ChildName: "Ida"}, {ChildName: "Ida", MadeMs: 1_800_000_000_000, Entries: entries}} {
		var b bytes.Buffer
		if err := Write(&b, in); err != nil || !bytes.HasPrefix(b.Bytes(), []byte("%PDF")) {
			t.Fatalf("write: %v", err)
		}
	}
}
