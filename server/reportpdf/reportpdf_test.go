package reportpdf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

// pdfText extracts the text of a PDF with pdftotext (Debian's poppler-utils, which .ci/run
// installs), page by page. A PDF that pdftotext cannot read fails the test.
func pdfText(t *testing.T, pdf []byte) []string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext is needed to read the exported PDF back: apt-get install poppler-utils")
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", "-layout", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	pages := strings.Split(strings.TrimRight(string(out), "\f"), "\f")
	return pages
}

func sample() Report {
	loc := time.FixedZone("CET", 3600)
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, loc)
	r := Report{
		CaseReference:   "2026-0042",
		VisitKind:       "supervised",
		Children:        []string{"Ida Sørensen", "Emil Ærø"},
		Place:           "Rum 2, Åbyhøj",
		PlannedStartMs:  start.UnixMilli(),
		PlannedEndMs:    start.Add(2 * time.Hour).UnixMilli(),
		Consultant:      "kim",
		Sections:        map[string]string{},
		SubmittedBy:     "kim",
		SubmittedDevice: "0193a1b2-0000-7000-8000-000000000001",
		SubmittedMs:     start.Add(3 * time.Hour).UnixMilli(),
		ExportedMs:      start.Add(26 * time.Hour).UnixMilli(),
		Location:        loc,
		Observations: []Observation{
			{AtMs: start.Add(5 * time.Minute).UnixMilli(), Text: "Ida løber hen til sin mor og giver hende et knus."},
			{AtMs: start.Add(50 * time.Minute).UnixMilli(), Text: "Far går udenfor i fem minutter."},
		},
		Checklist: []ChecklistItem{{Phase: "before", Label: "Room ready", Checked: true}, {Phase: "during", Label: "Consultant stepped in"}},
		Addenda:   []Addendum{{AtMs: start.Add(30 * time.Hour).UnixMilli(), Author: "kim", Device: "tablet-1", Text: "Rettelse: mor kom 10 minutter for sent."}},
	}
	for _, key := range syncer.ReportSections {
		r.Sections[key] = "Afsnit " + key + ": æ ø å Æ Ø Å."
	}
	// A long section, so the report runs over several pages and the footer shows on each.
	r.Sections["interaction"] = strings.Repeat("Mor læser Idas signaler og sætter grænser roligt. ", 200)
	r.Sections["child_perspective"] = "Ida siger: »Jeg vil gerne se mor igen på lørdag.«"
	return r
}

func render(t *testing.T, r Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", b.Bytes()[:min(16, b.Len())])
	}
	return b.Bytes()
}

// The export a caseworker files in the case system holds the report as written, Danish letters
// included, sections in template order, the timeline, the addenda, who submitted it, and the
// case reference on every page.
func TestReportPDFHoldsTheReport(t *testing.T) {
	r := sample()
	pages := pdfText(t, render(t, r))
	if len(pages) < 2 {
		t.Fatalf("the long report fits %d page(s); the test needs several to check the footer", len(pages))
	}
	all := strings.Join(pages, "\n")
	flat := strings.Join(strings.Fields(all), " ")
	for _, want := range []string{
		"Ida Sørensen", "Emil Ærø", "Rum 2, Åbyhøj", "2026-0042",
		"overvåget samvær",
		"Ida løber hen til sin mor og giver hende et knus.",
		"Rettelse: mor kom 10 minutter for sent.",
		"»Jeg vil gerne se mor igen på lørdag.«",
		"2026-11-28 13:00 by kim from device 0193a1b2-0000-7000-8000-000000000001",
		"2026-11-28 10:05",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the PDF does not hold %q", want)
		}
	}
	// Sections in template order.
	last := -1
	for _, key := range syncer.ReportSections {
		i := strings.Index(flat, "Afsnit "+key+": æ ø å Æ Ø Å.")
		if key == "interaction" || key == "child_perspective" {
			i = strings.Index(flat, syncer.ReportSectionTitles[key])
		}
		if i < 0 {
			t.Fatalf("section %s is missing", key)
		}
		if i < last {
			t.Errorf("section %s is out of template order", key)
		}
		last = i
	}
	for n, page := range pages {
		if !strings.Contains(page, "Case 2026-0042") || !strings.Contains(page, fmt.Sprintf("page %d of %d", n+1, len(pages))) {
			t.Errorf("page %d has no footer with the case reference and page number", n+1)
		}
	}
}

// The same report exports to the same bytes: a re-export can be compared with the filed copy.
func TestReportPDFIsDeterministic(t *testing.T) {
	if !bytes.Equal(render(t, sample()), render(t, sample())) {
		t.Fatal("two exports of the same report differ")
	}
}

// The parents' copy leaves the child's own words out (DOMAIN.md: access to documents).
func TestParentsCopyLeavesOutTheChildsWords(t *testing.T) {
	r := sample()
	r.ForParents = true
	flat := strings.Join(strings.Fields(strings.Join(pdfText(t, render(t, r)), " ")), " ")
	if strings.Contains(flat, "Jeg vil gerne se mor igen") {
		t.Fatal("the parents' copy holds the child's own words")
	}
	if !strings.Contains(flat, "left out of the parents' copy") {
		t.Fatal("the parents' copy does not say what was left out")
	}
}
