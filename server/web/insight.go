package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/insightpdf"
)

// insight sends the insight export for a child (from the audit page): what a citizen may see of
// the uses of the data about them, as a Danish PDF or as JSON. Making it is itself logged.
func (p *Pages) insight(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	q := r.URL.Query()
	format := q.Get("format")
	in, err := p.store.InsightExport(r.Context(), actor(sess), q.Get("child"), format)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	name := fmt.Sprintf("indsigt-%s.%s", in.ChildID, format)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(in); err != nil {
			p.cfg.Logger.Error().Err(err).Msg("write insight export")
		}
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	if err := insightpdf.Write(w, InsightDocument(in, p.cfg.Location)); err != nil {
		p.cfg.Logger.Error().Err(err).Msg("write insight PDF")
	}
}

// InsightDocument is the PDF's value for an insight export.
func InsightDocument(in server.Insight, loc *time.Location) insightpdf.Insight {
	doc := insightpdf.Insight{ChildName: in.ChildName, MadeMs: in.MadeMs, Words: insightpdf.Words("", loc)}
	for _, e := range in.Entries {
		doc.Entries = append(doc.Entries, InsightEntry(e))
	}
	return doc
}

// InsightEntry is the PDF's value for one use.
func InsightEntry(e server.AccessEntry) insightpdf.Entry {
	return insightpdf.Entry{AtMs: e.AtMs, Kind: e.Kind, What: e.What, Format: e.Format, Count: e.Count, Purpose: e.Purpose}
}
