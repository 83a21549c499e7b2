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

	"github.com/samvaer/sync/internal/i18n"
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

// localizer is the PDF's words in Danish (or another language) in Copenhagen time.
func localizer(t *testing.T, lang string) *i18n.Localizer {
	t.Helper()
	cat, err := i18n.NewCatalog(Messages)
	if err != nil {
		t.Fatal(err)
	}
	return cat.Localizer(nil, lang)
}

func sample() Report {
	cph, _ := i18n.LoadZone("")
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, cph)
	r := Report{
		Municipality:    "Aarhus Kommune",
		CaseReference:   "2026-0042",
		VisitKind:       "supervised",
		Children:        []string{"Ida Sørensen", "Emil Ærø"},
		Parents:         []string{"Mette Sørensen", "Jonas Ærø"},
		Present:         "Mette, Ida, Emil og plejemor Hanne",
		Place:           "Rum 2, Åbyhøj",
		PlannedStartMs:  start.UnixMilli(),
		PlannedEndMs:    start.Add(2 * time.Hour).UnixMilli(),
		Consultant:      "Kim Holm",
		Sections:        map[string]string{},
		SubmittedBy:     "Kim Holm",
		SubmittedDevice: "Kims iPad",
		SubmittedMs:     start.Add(3 * time.Hour).UnixMilli(),
		AcknowledgedBy:  "Sara Lund",
		AcknowledgedMs:  start.Add(25 * time.Hour).UnixMilli(),
		ExportedMs:      start.Add(26 * time.Hour).UnixMilli(),
		Observations: []Observation{
			{AtMs: start.Add(5 * time.Minute).UnixMilli(), Text: "Ida løber hen til sin mor og giver hende et knus."},
			{AtMs: start.Add(50 * time.Minute).UnixMilli(), Text: "Far går udenfor i fem minutter."},
		},
		Checklist: []ChecklistItem{{Phase: "Før samværet", Label: "Lokalet klar", Checked: true}, {Phase: "Under samværet", Label: "Samværskonsulenten greb ind"}},
		Addenda:   []Addendum{{AtMs: start.Add(30 * time.Hour).UnixMilli(), Author: "Kim Holm", Device: "Kims iPad", Text: "Rettelse: mor kom 10 minutter for sent."}},
	}
	for _, key := range syncer.ReportSections {
		r.Sections[key] = "Afsnit " + key + ": æ ø å Æ Ø Å."
	}
	// A long section, so the report runs over several pages and the head and footer show on each.
	r.Sections["interaction"] = strings.Repeat("Mor læser Idas signaler og sætter grænser roligt. ", 200)
	r.Sections["child_perspective"] = "Ida siger: »Jeg vil gerne se mor igen på lørdag.«"
	return r
}

func render(t *testing.T, r Report) []byte {
	t.Helper()
	return renderIn(t, r, "da")
}

func renderIn(t *testing.T, r Report, lang string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, localizer(t, lang)); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", b.Bytes()[:min(16, b.Len())])
	}
	return b.Bytes()
}

// The export a caseworker files in the case system holds the report as written, Danish letters
// included, under Danish headings: sections in template order, the children, parents and
// everyone present, the timeline, the addenda, a signature line with the consultant's and the
// device's names, the submission and the acknowledgement, and the municipality and journal
// number in the head of every page.
func TestReportPDFHoldsTheReport(t *testing.T) {
	r := sample()
	pages := pdfText(t, render(t, r))
	if len(pages) < 2 {
		t.Fatalf("the long report fits %d page(s); the test needs several to check the head and footer", len(pages))
	}
	all := strings.Join(pages, "\n")
	flat := strings.Join(strings.Fields(all), " ")
	for _, want := range []string{
		"Samværsbeskrivelse", "Ida Sørensen og Emil Ærø", "Mette Sørensen og Jonas Ærø", "Mette, Ida, Emil og plejemor Hanne",
		"Rum 2, Åbyhøj", "Overvåget samvær (barnets lov § 105)", "lør. 28. nov. 2026 kl. 10.00–12.00",
		"Ida løber hen til sin mor og giver hende et knus.",
		"Observationer under samværet", "10.05",
		"Tilføjelser (rettelser efter indsendelse)", "Rettelse: mor kom 10 minutter for sent.",
		"»Jeg vil gerne se mor igen på lørdag.«",
		"Udarbejdet af Kim Holm, samværskonsulent",
		"Indsendt lør. 28. nov. 2026 kl. 13.00 fra enheden Kims iPad",
		"Kvitteret søn. 29. nov. 2026 kl. 11.00 af Sara Lund",
		"Samspil: kontakt, initiativ, aktiviteter, signaler og grænser",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the PDF does not hold %q", want)
		}
	}
	for _, unwanted := range []string{"Case ", "Submitted", "by kim", "nothing written", "0193a1b2"} {
		if strings.Contains(flat, unwanted) {
			t.Errorf("the Danish PDF holds %q", unwanted)
		}
	}
	// Sections in template order.
	last := -1
	for _, key := range syncer.ReportSections {
		i := strings.Index(flat, "Afsnit "+key+": æ ø å Æ Ø Å.")
		if key == "interaction" || key == "child_perspective" {
			i = strings.Index(flat, localizer(t, "da").T("section."+key))
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
		head := strings.Join(strings.Fields(page), " ")
		if !strings.Contains(head, "Aarhus Kommune") || !strings.Contains(head, "Journalnr. 2026-0042") ||
			!strings.Contains(head, fmt.Sprintf("side %d af %d", n+1, len(pages))) {
			t.Errorf("page %d has no head with the municipality and journal number, or no page number", n+1)
		}
	}
}

// An empty optional section is left out rather than padded, a short report is one page (no
// near-empty trailing page), and the file is named by journal number and visit day.
func TestReportPDFLeavesOutEmptySectionsAndFitsShortReportsOnOnePage(t *testing.T) {
	r := sample()
	for _, key := range syncer.ReportSections {
		r.Sections[key] = ""
	}
	r.Sections["opening"] = "Mor kommer til tiden."
	l := localizer(t, "da")
	pages := pdfText(t, render(t, r))
	flat := strings.Join(strings.Fields(strings.Join(pages, " ")), " ")
	if len(pages) != 1 {
		t.Fatalf("a short report takes %d pages", len(pages))
	}
	if strings.Contains(flat, l.T("section.assessment")) || !strings.Contains(flat, l.T("section.opening")) {
		t.Fatal("an empty section is printed, or a written one is not")
	}
	if got := FileName(r, l, false); got != "samvaersbeskrivelse-2026-0042-2026-11-28.pdf" {
		t.Errorf("file name %q", got)
	}
	r.CaseReference = "../x y"
	if got := FileName(r, l, true); got != "samvaersbeskrivelse-foraeldrekopi-x-y-2026-11-28.pdf" {
		t.Errorf("file name %q", got)
	}
}

// In English the same report reads in English.
func TestReportPDFInEnglish(t *testing.T) {
	flat := strings.Join(strings.Fields(strings.Join(pdfText(t, renderIn(t, sample(), "en")), " ")), " ")
	for _, want := range []string{"Case no. 2026-0042", "Sat 28 Nov 2026, 10:00", "Written by Kim Holm", "from device Kims iPad"} {
		if !strings.Contains(flat, want) {
			t.Errorf("the English PDF does not hold %q", want)
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
	if !strings.Contains(flat, "Udeladt i forældrenes kopi") {
		t.Fatal("the parents' copy does not say what was left out")
	}
}
