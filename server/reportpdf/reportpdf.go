// Package reportpdf writes a visit report (samværsbeskrivelse) as a PDF to file in the
// municipality's case system: a head with the municipality's name and the case's journal number
// on every page, the children, parents and everyone present, the sections that were written in
// template order, the observation timeline, the checklist, the addenda, and a signature block
// with the consultant's name, the device's name, the submission time and the acknowledgement.
// A footer numbers the pages.
//
// It renders a plain Report value and knows nothing of storage or the wire: the server builds the
// Report from its records. Its words and times come from an i18n.Localizer (Danish by default),
// its own message files are Messages, to be joined into the caller's catalog. Text is set in the
// Go fonts, embedded as UTF-8 TrueType, so Danish letters (æ ø å) and any other Latin name print
// as written. It imports syncer for the section keys and internal/i18n, nothing else of ours.
package reportpdf

import (
	"embed"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/syncer"
)

// Messages are the PDF's words, for i18n.NewCatalog.
//
//go:embed messages/*.json
var Messages embed.FS

// Report is everything the PDF shows. Times are Unix milliseconds.
type Report struct {
	// Municipality is the name in the head of every page.
	Municipality  string
	CaseReference string // the journal number
	// VisitKind is "supervised" (overvåget, § 105) or "supported" (støttet, § 104).
	VisitKind      string
	Children       []string
	Parents        []string
	Present        string // who was present, as the consultant recorded it
	Place          string
	PlannedStartMs int64
	PlannedEndMs   int64
	Consultant     string
	Sections       map[string]string // by syncer.ReportSections key
	// Marks are the consultant's marks for the parents' copy (syncer.Marks), by section key.
	Marks        map[string]string
	Observations []Observation
	Checklist    []ChecklistItem
	Addenda      []Addendum
	SubmittedBy  string
	// SubmittedDevice is the name of the device that signed the submission.
	SubmittedDevice string
	SubmittedMs     int64
	AcknowledgedBy  string
	AcknowledgedMs  int64
	ExportedMs      int64
	// ForParents makes the copy parents may see (access to documents): the child's own words
	// and every marked section and observation are left out, a line saying what was withheld in
	// their place. The full copy shows the marks beside what they mark.
	ForParents bool
}

// Observation is one timestamped note from the visit.
type Observation struct {
	AtMs int64
	Text string
	// Mark is the consultant's mark for the parents' copy (syncer.Marks), "" for none.
	Mark string
}

// ChecklistItem is one item of the visit's checklist, its phase and label in the reader's words.
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
	labelW    = 42.0
)

// FileName is the name an exported report is saved under: the journal number and the visit's
// day, so a folder of exports sorts by case and date ("samvaersbeskrivelse-2026-0042-2026-11-28.pdf").
func FileName(r Report, l *i18n.Localizer, parents bool) string {
	name := "samvaersbeskrivelse"
	if parents {
		name += "-foraeldrekopi"
	}
	if ref := safeName(r.CaseReference); ref != "" {
		name += "-" + ref
	}
	return name + "-" + time.UnixMilli(r.PlannedStartMs).In(l.Zone()).Format(time.DateOnly) + ".pdf"
}

// safeName keeps the letters, digits, dashes and dots of s, so it is safe in a file name.
func safeName(s string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)), r == '-', r == '.':
			return r
		}
		return '-'
	}, s), "-.")
}

// Write renders r as a PDF to w in l's language and zone.
func Write(w io.Writer, r Report, l *i18n.Localizer) error {
	when := func(ms int64) string {
		if ms == 0 {
			return "—"
		}
		return l.Millis(ms)
	}
	title := l.T("pdf.title")
	if r.ForParents {
		title = l.T("pdf.title_parents")
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(font, "", goregular.TTF)
	pdf.AddUTF8FontFromBytes(font, "B", gobold.TTF)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+footerGap)
	pdf.SetTitle(title+" "+r.CaseReference, true)
	pdf.SetCreator("Samvær sync", true)
	pdf.SetLang(l.Lang())
	// A fixed date and a sorted catalog (fonts are kept in a map) make the same report give the
	// same bytes, so a re-export can be compared with the filed copy.
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(time.UnixMilli(r.ExportedMs).UTC())
	pdf.SetModificationDate(time.UnixMilli(r.ExportedMs).UTC())
	pdf.AliasNbPages("{nb}")
	journal := l.T("pdf.journal", "Reference", r.CaseReference)
	if r.CaseReference == "" {
		journal = l.T("pdf.no_journal")
	}
	pdf.SetHeaderFunc(func() {
		pdf.SetY(margin - 8)
		pdf.SetFont(font, "B", 9)
		pdf.CellFormat(0, lineH, r.Municipality, "", 0, "L", false, 0, "")
		pdf.SetFont(font, "", 9)
		pdf.SetX(margin)
		pdf.CellFormat(0, lineH, journal, "", 1, "R", false, 0, "")
		pdf.SetDrawColor(160, 160, 160)
		pdf.Line(margin, pdf.GetY()+0.5, 210-margin, pdf.GetY()+0.5)
		pdf.SetY(margin + 2)
	})
	pdf.SetFooterFunc(func() {
		pdf.SetY(-margin)
		pdf.SetFont(font, "", 8)
		pdf.SetTextColor(90, 90, 90)
		pdf.CellFormat(0, lineH, l.T("pdf.footer", "Title", title, "Journal", journal, "Exported", when(r.ExportedMs),
			"Page", pdf.PageNo()), "T", 0, "C", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()

	heading := func(text string, size float64) {
		// A heading is never left alone at the foot of a page: it moves on with what follows.
		_, pageH := pdf.GetPageSize()
		if pdf.GetY()+size*0.5+3*lineH > pageH-margin-footerGap {
			pdf.AddPage()
		}
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
		if strings.TrimSpace(value) == "" {
			value = "—"
		}
		pdf.SetFont(font, "B", 10)
		pdf.CellFormat(labelW, lineH, label, "", 0, "L", false, 0, "")
		pdf.SetFont(font, "", 10)
		pdf.MultiCell(0, lineH, value, "", "L", false)
	}
	list := func(words []string) string {
		switch len(words) {
		case 0:
			return ""
		case 1:
			return words[0]
		}
		return strings.Join(words[:len(words)-1], ", ") + " " + l.T("pdf.and") + " " + words[len(words)-1]
	}

	heading(title, 16)
	field(l.T("pdf.children"), list(r.Children))
	field(l.T("pdf.parents"), list(r.Parents))
	field(l.T("pdf.present"), r.Present)
	field(l.T("pdf.kind"), l.T("pdf.kind."+r.VisitKind))
	field(l.T("pdf.time"), when(r.PlannedStartMs)+"–"+l.Clock(time.UnixMilli(r.PlannedEndMs)))
	field(l.T("pdf.place"), r.Place)
	field(l.T("pdf.consultant"), r.Consultant)
	pdf.Ln(4)

	written := 0
	for _, key := range syncer.ReportSections {
		text := strings.TrimSpace(r.Sections[key])
		if text == "" {
			continue // an empty optional section is left out, not padded
		}
		written++
		heading(l.T("section."+key), 12)
		mark := r.Marks[key]
		switch {
		case mark != "" && r.ForParents:
			text = l.T("pdf.left_out." + mark)
		case key == "child_perspective" && r.ForParents:
			text = l.T("pdf.left_out_for_parents")
		case mark != "":
			para(l.T("pdf.marked." + mark))
		}
		para(text)
	}
	if written == 0 {
		para(l.T("pdf.no_sections"))
	}

	if len(r.Observations) > 0 {
		heading(l.T("pdf.observations"), 12)
		for _, o := range r.Observations {
			switch {
			case o.Mark != "" && r.ForParents:
				field(l.Clock(time.UnixMilli(o.AtMs)), l.T("pdf.left_out."+o.Mark))
			case o.Mark != "":
				field(l.Clock(time.UnixMilli(o.AtMs)), l.T("pdf.marked."+o.Mark)+" "+o.Text)
			default:
				field(l.Clock(time.UnixMilli(o.AtMs)), o.Text)
			}
		}
		pdf.Ln(3)
	}

	if len(r.Checklist) > 0 {
		heading(l.T("pdf.checklist"), 12)
		phase := ""
		for _, it := range r.Checklist {
			if it.Phase != phase {
				phase = it.Phase
				pdf.SetFont(font, "B", 10)
				pdf.MultiCell(0, lineH, it.Phase, "", "L", false)
			}
			mark := l.T("pdf.unchecked")
			if it.Checked {
				mark = l.T("pdf.checked")
			}
			field("  "+mark, it.Label)
		}
		pdf.Ln(3)
	}

	if len(r.Addenda) > 0 {
		heading(l.T("pdf.addenda"), 12)
		for _, a := range r.Addenda {
			pdf.SetFont(font, "B", 10)
			by := when(a.AtMs) + ", " + a.Author
			if a.Device != "" {
				by += " (" + l.T("pdf.device", "Device", a.Device) + ")"
			}
			pdf.MultiCell(0, lineH, by, "", "L", false)
			para(a.Text)
		}
	}

	// The signature block stays together on one page.
	lines := 3
	if r.AcknowledgedMs != 0 {
		lines++
	}
	_, pageH := pdf.GetPageSize()
	if pdf.GetY()+float64(lines+2)*lineH > pageH-margin-footerGap {
		pdf.AddPage()
	}
	pdf.Ln(3)
	pdf.SetDrawColor(0, 0, 0)
	pdf.Line(margin, pdf.GetY(), 210-margin, pdf.GetY())
	pdf.Ln(2)
	heading(l.T("pdf.signature"), 11)
	field(l.T("pdf.written_by"), l.T("pdf.written_by_value", "Name", r.SubmittedBy))
	field(l.T("pdf.submitted"), l.T("pdf.submitted_value", "When", when(r.SubmittedMs), "Device", r.SubmittedDevice))
	if r.AcknowledgedMs != 0 {
		field(l.T("pdf.acknowledged"), l.T("pdf.acknowledged_value", "When", when(r.AcknowledgedMs), "Name", r.AcknowledgedBy))
	}
	pdf.SetFont(font, "", 8)
	pdf.MultiCell(0, 4, l.T("pdf.signature_note"), "", "L", false)

	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("write report PDF: %w", err)
	}
	return nil
}
