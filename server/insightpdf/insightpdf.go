// Package insightpdf writes the insight export (indsigt) as a PDF in Danish: what a citizen may
// see of the uses of the data about a child — the date and time of each use, what kind of use it
// was and its purpose, not who used it. It renders a plain Insight value and imports nothing of
// ours: the server builds the value from its access log. Text is set in the Go fonts, embedded as
// UTF-8 TrueType, so æ, ø and å print as written.
package insightpdf

import (
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// Insight is what the PDF shows.
type Insight struct {
	ChildName string
	MadeMs    int64
	Entries   []Entry
	// Location is the time zone times are shown in; nil means Europe/Copenhagen.
	Location *time.Location
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

// Use says in Danish what kind of use an entry was.
func Use(e Entry) string {
	switch e.Kind {
	case "case.read":
		if strings.HasPrefix(e.What, "report ") {
			return "Læsning af en samværsbeskrivelse"
		}
		return "Opslag i sagen"
	case "search":
		if e.What == "audit log" {
			return "Søgning i loggen over brug af sagen"
		}
		return "Søgning i sagens samværsbeskrivelser"
	case "export":
		switch {
		case e.Format == "parents_copy":
			return "Udlevering af forældrenes kopi af en samværsbeskrivelse"
		case e.Format == "pdf":
			return "Udskrift af en samværsbeskrivelse til sagssystemet (PDF)"
		case e.Format == "csv":
			return "Udtræk som regneark (CSV)"
		case strings.HasPrefix(e.Format, "insight"):
			return "Indsigtsudtræk"
		}
		return "Udtræk"
	case "case.changed":
		return "Oplysninger registreret eller ændret" + count(e.Count)
	case "case.deleted":
		return "Oplysninger slettet" + count(e.Count)
	}
	return "Anden brug"
}

func count(n string) string {
	switch n {
	case "", "0":
		return ""
	case "1":
		return " (1 oplysning)"
	}
	return " (" + n + " oplysninger)"
}

var months = [...]string{"januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober", "november", "december"}

// danishTime writes a time the Danish way: "1. december 2026 kl. 14.05".
func danishTime(t time.Time) string {
	return fmt.Sprintf("%d. %s %d kl. %02d.%02d", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

const (
	font   = "Go"
	margin = 18.0 // mm
	lineH  = 5.0
)

// Write renders in as a PDF to w.
func Write(w io.Writer, in Insight) error {
	loc := in.Location
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation("Europe/Copenhagen"); err != nil {
			return err
		}
	}
	when := func(ms int64) string { return danishTime(time.UnixMilli(ms).In(loc)) }

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(font, "", goregular.TTF)
	pdf.AddUTF8FontFromBytes(font, "B", gobold.TTF)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin+10)
	pdf.SetTitle("Indsigt i brugen af oplysninger", true)
	pdf.SetCreator("Samvær sync", true)
	pdf.SetCatalogSort(true)
	pdf.SetCreationDate(time.UnixMilli(in.MadeMs).UTC())
	pdf.SetModificationDate(time.UnixMilli(in.MadeMs).UTC())
	pdf.AliasNbPages("{nb}")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-margin)
		pdf.SetFont(font, "", 8)
		pdf.SetTextColor(90, 90, 90)
		pdf.CellFormat(0, lineH, fmt.Sprintf("Indsigtsudtræk dannet %s · side %d af {nb}", when(in.MadeMs), pdf.PageNo()), "T", 0, "C", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()
	pdf.SetFont(font, "B", 16)
	pdf.MultiCell(0, 8, "Indsigt i brugen af oplysninger om "+in.ChildName, "", "L", false)
	pdf.Ln(2)
	pdf.SetFont(font, "", 10)
	pdf.MultiCell(0, lineH, "Her kan du se, hvornår oplysninger om barnet i samværssagen er blevet brugt, hvilken slags brug det var, "+
		"og hvad formålet var. Hvem der brugte oplysningerne, fremgår normalt ikke. Oversigten dækker den periode, "+
		"loggen opbevares i; ældre registreringer er slettet efter reglerne for opbevaring.", "", "L", false)
	pdf.Ln(4)

	widths := []float64{44, 66, 64}
	header := []string{"Tidspunkt", "Brug", "Formål"}
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
		pdf.MultiCell(0, lineH, "Der er ingen registreret brug af oplysningerne i perioden.", "", "L", false)
	}
	for _, e := range in.Entries {
		purpose := e.Purpose
		if purpose == "" {
			purpose = "—"
		}
		row([]string{when(e.AtMs), Use(e), purpose}, false)
	}
	if err := pdf.Error(); err != nil {
		return err
	}
	return pdf.Output(w)
}
