// Package insightpdf writes the insight export (indsigt) as a PDF: what a citizen may see of the
// uses of the data about a child — the date and time of each use, what kind of use it was and
// its purpose, not who used it. Its words are in messages/ (internal/i18n), Danish by default.
// It renders a plain Insight value and imports nothing of ours but internal/i18n: the server
// builds the value from its access log. Text is set in the Go fonts, embedded as UTF-8
// TrueType, so æ, ø and å print as written.
package insightpdf

import (
	"embed"
	"io"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/samvaer/sync/internal/i18n"
)

//go:embed messages
var messages embed.FS

// catalog is the export's words in every offered language; a missing translation fails here,
// at start and in tests.
var catalog = func() *i18n.Catalog {
	c, err := i18n.NewCatalog(messages)
	if err != nil {
		panic(err)
	}
	return c
}()

// Words is the export's words and time format in a language ("" or "da": Danish) and zone (nil:
// Europe/Copenhagen).
func Words(lang string, zone *time.Location) *i18n.Localizer {
	if lang == "" {
		lang = i18n.Danish.String()
	}
	return catalog.Localizer(zone, lang)
}

// Insight is what the PDF shows.
type Insight struct {
	ChildName string
	MadeMs    int64
	Entries   []Entry
	// Words is the language and zone; nil means Danish in Europe/Copenhagen.
	Words *i18n.Localizer
}

// Entry is one use of the data, as the access log names it.
type Entry struct {
	AtMs    int64
	Kind    string // case.read, search, export, case.changed, case.deleted
	What    string // "case …", "report …", "report list", "records", "audit log", "child …"
	Format  string // an export's format
	Count   string // how many records a change or deletion touched
	Purpose string
}

// Use says what kind of use an entry was.
func Use(w *i18n.Localizer, e Entry) string {
	id := "insight.use.other"
	switch e.Kind {
	case "case.read":
		id = "insight.use.read_case"
		if strings.HasPrefix(e.What, "report ") {
			id = "insight.use.read_report"
		}
	case "search":
		id = "insight.use.search"
		if e.What == "audit log" {
			id = "insight.use.search_log"
		}
	case "export":
		switch {
		case e.Format == "parents_copy":
			id = "insight.use.parents_copy"
		case e.Format == "pdf":
			id = "insight.use.pdf"
		case e.Format == "csv":
			id = "insight.use.csv"
		case strings.HasPrefix(e.Format, "insight"):
			id = "insight.use.insight"
		default:
			id = "insight.use.export"
		}
	case "case.changed":
		id = "insight.use.changed"
	case "case.deleted":
		id = "insight.use.deleted"
	}
	use := w.T(id)
	if n, err := strconv.Atoi(e.Count); err == nil && n > 0 {
		return w.N("insight.records", n, "Use", use)
	}
	return use
}

const (
	font   = "Go"
	margin = 18.0 // mm
	lineH  = 5.0
)

// Write renders in as a PDF to w.
func Write(w io.Writer, in Insight) error {
	words := in.Words
	if words == nil {
		words = Words("", nil)
	}
	when := func(ms int64) string { return words.Millis(ms) }

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(font, "", goregular.TTF)
	pdf.AddUTF8FontFromBytes(font, "B", gobold.TTF)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+10)
	pdf.SetTitle(words.T("insight.pdftitle"), true)
	pdf.SetCreator("Samvær sync", true)
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(time.UnixMilli(in.MadeMs).UTC())
	pdf.SetModificationDate(time.UnixMilli(in.MadeMs).UTC())
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-margin)
		pdf.SetFont(font, "", 8)
		pdf.SetTextColor(90, 90, 90)
		pdf.CellFormat(0, lineH, words.T("insight.footer", "Made", when(in.MadeMs), "Page", pdf.PageNo()), "T", 0, "C", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()
	pdf.SetFont(font, "B", 16)
	pdf.MultiCell(0, 8, words.T("insight.title", "Name", in.ChildName), "", "L", false)
	pdf.Ln(2)
	pdf.SetFont(font, "", 10)
	pdf.MultiCell(0, lineH, words.T("insight.intro"), "", "L", false)
	pdf.Ln(4)

	widths := []float64{44, 66, 64}
	header := []string{words.T("insight.col.when"), words.T("insight.col.use"), words.T("insight.col.purpose")}
	row := func(cells []string, bold bool) {
		style := ""
		if bold {
			style = "B"
		}
		pdf.SetFont(font, style, 9)
		// The tallest cell decides the row's height.
		lines := 1
		for i, c := range cells {
			if n := len(pdf.SplitText(c, widths[i]-2)); n > lines {
				lines = n
			}
		}
		h := float64(lines) * lineH
		if pdf.GetY()+h > 297-margin-10 {
			pdf.AddPage()
		}
		x, y := pdf.GetXY()
		for i, c := range cells {
			pdf.SetXY(x, y)
			pdf.MultiCell(widths[i], lineH, c, "", "L", false)
			x += widths[i]
		}
		pdf.SetXY(margin, y+h)
		pdf.Line(margin, y+h, margin+widths[0]+widths[1]+widths[2], y+h)
		pdf.Ln(1)
	}
	row(header, true)
	if len(in.Entries) == 0 {
		pdf.SetFont(font, "", 10)
		pdf.MultiCell(0, lineH, words.T("insight.none"), "", "L", false)
	}
	for _, e := range in.Entries {
		purpose := e.Purpose
		if purpose == "" {
			purpose = "—"
		}
		row([]string{when(e.AtMs), Use(words, e), purpose}, false)
	}
	if err := pdf.Error(); err != nil {
		return err
	}
	return pdf.Output(w)
}
