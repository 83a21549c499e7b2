// Package reportpdf writes a visit report (samværsbeskrivelse) as a PDF for the municipality's
// case system: the sections in template order, the observation timeline, the checklist, the
// addenda, who submitted it from which device and when, and a footer with the case reference on
// every page.
//
// It renders a plain Report value and knows nothing of storage or the wire: the server builds the
// Report from its records. Text is set in the Go fonts, embedded as UTF-8 TrueType, so Danish
// letters (æ ø å) and any other Latin name print as written. It imports syncer for the section
// keys and titles, nothing else of ours.
package reportpdf

import (
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/samvaer/sync/syncer"
)

// Report is everything the PDF shows. Times are Unix milliseconds, shown in Location.
type Report struct {
	CaseReference string
	// VisitKind is "supervised" (overvåget, § 105) or "supported" (støttet, § 104).
	VisitKind       string
	Children        []string
	Place           string
	PlannedStartMs  int64
	PlannedEndMs    int64
	Consultant      string
	Sections        map[string]string // by syncer.ReportSections key
	Observations    []Observation
	Checklist       []ChecklistItem
	Addenda         []Addendum
	SubmittedBy     string
	SubmittedDevice string
	SubmittedMs     int64
	AcknowledgedBy  string
	AcknowledgedMs  int64
	ExportedMs      int64
	Location        *time.Location // nil means UTC
	// ForParents makes the copy parents may see (access to documents): the child's own words
	// are left out.
	ForParents bool
}

// Observation is one timestamped note from the visit.
type Observation struct {
	AtMs int64
	Text string
}

// ChecklistItem is one item of the visit's checklist.
type ChecklistItem struct {
	Phase, Label string
	Checked      bool
}

// Addendum is a dated, signed correction made after submission.
type Addendum struct {
	AtMs   int64
	Author string
	Device string
	Text   string
}

const (
	font      = "Go"
	margin    = 18.0 // mm
	lineH     = 5.0
	footerGap = 14.0
)

// Write renders r as a PDF to w.
func Write(w io.Writer, r Report) error {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	when := func(ms int64) string {
		if ms == 0 {
			return "—"
		}
		return time.UnixMilli(ms).In(loc).Format("2006-01-02 15:04")
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(font, "", goregular.TTF)
	pdf.AddUTF8FontFromBytes(font, "B", gobold.TTF)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+footerGap)
	pdf.SetTitle("Samværsbeskrivelse "+r.CaseReference, true)
	pdf.SetCreator("Samvær sync", true)
	// A fixed date and a sorted catalog (fonts are kept in a map) make the same report give the
	// same bytes, so a re-export can be compared with the filed copy.
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(time.UnixMilli(r.ExportedMs).UTC())
	pdf.SetModificationDate(time.UnixMilli(r.ExportedMs).UTC())
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-margin)
		pdf.SetFont(font, "", 8)
		pdf.SetTextColor(90, 90, 90)
		pdf.CellFormat(0, lineH, fmt.Sprintf("Case %s · Samværsbeskrivelse · exported %s · page %d of {nb}",
			r.CaseReference, when(r.ExportedMs), pdf.PageNo()), "T", 0, "C", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()

	heading := func(text string, size float64) {
		pdf.SetFont(font, "B", size)
		pdf.MultiCell(0, size*0.5, text, "", "L", false)
		pdf.Ln(1.5)
	}
	para := func(text string) {
		pdf.SetFont(font, "", 10)
		pdf.MultiCell(0, lineH, text, "", "L", false)
		pdf.Ln(2)
	}
	field := func(label, value string) {
		pdf.SetFont(font, "B", 10)
		pdf.CellFormat(42, lineH, label, "", 0, "L", false, 0, "")
		pdf.SetFont(font, "", 10)
		pdf.MultiCell(0, lineH, value, "", "L", false)
	}

	heading("Samværsbeskrivelse — visit report", 16)
	field("Case", r.CaseReference)
	field("Visit", kindText(r.VisitKind))
	field("Children", strings.Join(r.Children, ", "))
	field("Planned", when(r.PlannedStartMs)+" – "+when(r.PlannedEndMs))
	field("Place", r.Place)
	field("Consultant", r.Consultant)
	field("Submitted", fmt.Sprintf("%s by %s from device %s", when(r.SubmittedMs), r.SubmittedBy, r.SubmittedDevice))
	if r.AcknowledgedMs != 0 {
		field("Acknowledged", fmt.Sprintf("%s by %s", when(r.AcknowledgedMs), r.AcknowledgedBy))
	}
	pdf.Ln(4)

	for _, key := range syncer.ReportSections {
		heading(syncer.ReportSectionTitles[key], 12)
		text := strings.TrimSpace(r.Sections[key])
		switch {
		case key == "child_perspective" && r.ForParents:
			text = "(left out of the parents' copy: the child's own words)"
		case text == "":
			text = "(nothing written)"
		}
		para(text)
	}

	heading("Observations during the visit", 12)
	if len(r.Observations) == 0 {
		para("(none)")
	}
	for _, o := range r.Observations {
		field(when(o.AtMs), o.Text)
	}
	pdf.Ln(3)

	heading("Checklist", 12)
	for _, it := range r.Checklist {
		mark := "[ ]"
		if it.Checked {
			mark = "[x]"
		}
		field(mark+" "+it.Phase, it.Label)
	}
	pdf.Ln(3)

	if len(r.Addenda) > 0 {
		heading("Addenda (corrections after submission)", 12)
		for _, a := range r.Addenda {
			pdf.SetFont(font, "B", 10)
			by := when(a.AtMs) + ", " + a.Author
			if a.Device != "" {
				by += " (device " + a.Device + ")"
			}
			pdf.MultiCell(0, lineH, by, "", "L", false)
			para(a.Text)
		}
	}

	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("write report PDF: %w", err)
	}
	return nil
}

func kindText(kind string) string {
	switch kind {
	case "supervised":
		return "Supervised visit (overvåget samvær, Barnets Lov § 105)"
	case "supported":
		return "Supported visit (støttet samvær, Barnets Lov § 104)"
	}
	return kind
}
