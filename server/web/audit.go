package web

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The admin's audit log, read like a log: people, devices and cases by name, events in words,
// times and details written out, newest first, paged; repeated views of the same thing by the
// same person within a few minutes are shown as one row (each view is still its own entry, and
// the CSV export lists every one).

const (
	auditPage = 50
	// auditGroupWindow is how close together views of one thing by one person are shown as one row.
	auditGroupWindow = 10 * time.Minute
	// auditExportMax bounds one CSV export.
	auditExportMax = 100_000
)

// auditRow is one row of the audit page: an entry, or several views grouped.
type auditRow struct {
	FirstID, LastID int64
	FirstMs, LastMs int64
	Count           int
	Kind, Event     string // the kind as stored, and in words
	User, Device    string
	Case, Purpose   string
	Details         []string
}

// auditNames names the ids an audit entry holds.
type auditNames struct {
	users, devices, cases map[string]string
}

func (p *Pages) auditNames(r *http.Request) (auditNames, error) {
	n := auditNames{users: map[string]string{}, devices: map[string]string{}, cases: map[string]string{}}
	users, err := p.store.Users(r.Context())
	if err != nil {
		return n, err
	}
	for _, u := range users {
		n.users[u.ID] = u.Name
	}
	devices, err := p.store.Devices(r.Context())
	if err != nil {
		return n, err
	}
	for _, d := range devices {
		n.devices[d.ID] = d.Name
	}
	cases, err := p.store.Cases(r.Context())
	if err != nil {
		return n, err
	}
	for _, c := range cases {
		n.cases[c.ID] = c.Reference
	}
	return n, nil
}

// auditQuery is the names the audit pages show and the filters the request asks for.
func (p *Pages) auditQuery(r *http.Request) (auditNames, server.AuditFilter, error) {
	names, err := p.auditNames(r)
	if err != nil {
		return names, server.AuditFilter{}, err
	}
	f, err := p.auditFilter(r, names)
	return names, f, err
}

// auditFilter reads the page's filters: dates, and a user, device or case by name or id.
func (p *Pages) auditFilter(r *http.Request, names auditNames) (server.AuditFilter, error) {
	q := r.URL.Query()
	f := server.AuditFilter{Newest: true}
	find := func(m map[string]string, s string) string {
		for id, name := range m {
			if name != "" && strings.EqualFold(name, s) {
				return id
			}
		}
		return s
	}
	if s := strings.TrimSpace(q.Get("user")); s != "" {
		f.UserID = find(names.users, s)
	}
	if s := strings.TrimSpace(q.Get("device")); s != "" {
		f.DeviceID = find(names.devices, s)
	}
	if s := strings.TrimSpace(q.Get("case")); s != "" {
		f.CaseID = find(names.cases, s)
	}
	for _, t := range []struct {
		key string
		to  *time.Time
		add int
	}{{"since", &f.Since, 0}, {"until", &f.Until, 1}} {
		if s := q.Get(t.key); s != "" {
			d, err := time.ParseInLocation(time.DateOnly, s, p.cfg.Location)
			if err != nil {
				return f, syncer.Errorf(syncer.CodeInvalid, "Dates are written like 2026-11-24.").With("error.date")
			}
			*t.to = d.AddDate(0, 0, t.add) // until a date means to the end of that day
		}
	}
	return f, nil
}

// audit shows the audit log, newest first, with filters and pages.
func (p *Pages) audit(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	names, f, err := p.auditQuery(r)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	q := r.URL.Query()
	pageNo, _ := strconv.Atoi(q.Get("page"))
	pageNo = max(pageNo, 1)
	// The newest entries up to this page's end, and one more to know whether a page follows.
	f.Limit = pageNo*auditPage + 1
	entries, err := p.store.SearchAudit(r.Context(), actor(sess), f, "") // the search itself is logged
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	more := len(entries) > pageNo*auditPage
	entries = entries[min((pageNo-1)*auditPage, len(entries)):min(pageNo*auditPage, len(entries))]
	rows := groupAudit(l, names, entries)
	link := func(page int) string {
		v := url.Values{}
		for _, k := range []string{"since", "until", "user", "device", "case"} {
			if s := q.Get(k); s != "" {
				v.Set(k, s)
			}
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		return v.Encode()
	}
	data := map[string]any{"Rows": rows, "Query": q, "Page": pageNo, "CSV": "/admin/audit.csv?" + link(1)}
	if pageNo > 1 {
		data["Prev"] = "/admin/audit?" + link(pageNo-1)
	}
	if more {
		data["Next"] = "/admin/audit?" + link(pageNo+1)
	}
	p.render(w, r, "audit", http.StatusOK, page{Title: l.T("audit.title"), Session: sess, Data: data})
}

// groupAudit turns entries (newest first) into rows: views of the same thing by the same person
// and device within auditGroupWindow of each other become one row.
func groupAudit(l *i18n.Localizer, names auditNames, entries []server.AuditEntry) []auditRow {
	var rows []auditRow
	var lastKey string
	for _, e := range entries {
		key := ""
		if e.Kind == server.AuditCaseRead {
			key = strings.Join([]string{e.ActorUserID, e.DeviceID, e.CaseID, e.Purpose, e.Detail["what"]}, "\x00")
		}
		if n := len(rows); key != "" && key == lastKey && rows[n-1].FirstMs-e.AtMs <= auditGroupWindow.Milliseconds() {
			rows[n-1].Count++
			rows[n-1].FirstID, rows[n-1].FirstMs = e.ID, e.AtMs
			continue
		}
		lastKey = key
		rows = append(rows, auditRow{FirstID: e.ID, LastID: e.ID, FirstMs: e.AtMs, LastMs: e.AtMs, Count: 1,
			Kind: e.Kind, Event: auditEvent(l, e.Kind), User: nameOr(l, names.users, e.ActorUserID),
			Device: nameOr(l, names.devices, e.DeviceID), Case: caseName(l, names.cases, e.CaseID),
			Purpose: e.Purpose, Details: auditDetails(l, names, e)})
	}
	return rows
}

// auditEvent is an event kind in words; a kind the catalog does not know shows as stored.
func auditEvent(l *i18n.Localizer, kind string) string {
	if id := "audit.kind." + kind; l.Has(id) {
		return l.T(id)
	}
	return kind
}

func nameOr(l *i18n.Localizer, names map[string]string, id string) string {
	if id == "" {
		return ""
	}
	if n := names[id]; n != "" {
		return n
	}
	return l.T("audit.unknown", "ID", shortID(id))
}

func caseName(l *i18n.Localizer, refs map[string]string, id string) string {
	if id == "" {
		return ""
	}
	if ref := refs[id]; ref != "" {
		return ref
	}
	return l.T("audit.case_without_reference", "ID", shortID(id))
}

// shortID is the start of an id, enough for a person to tell ids apart on a page.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// auditDetails writes an entry's details as "name: value" in words: times formatted, ids named,
// known values translated.
func auditDetails(l *i18n.Localizer, names auditNames, e server.AuditEntry) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		v := e.Detail[k]
		label := k
		if id := "audit.detail." + k; l.Has(id) {
			label = l.T(id)
		}
		switch {
		case strings.HasSuffix(k, "_ms"):
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				v = l.Millis(n)
			}
		case k == "user":
			v = cmp.Or(names.users[v], v)
		case k == "role" && l.Has("role."+v):
			v = l.T("role." + v)
		case k == "what":
			v = auditWhat(l, v)
		default:
			if id := "audit.value." + v; l.Has(id) {
				v = l.T(id)
			}
		}
		out = append(out, label+": "+v)
	}
	return out
}

// auditWhat is what a read was of ("report list", "case ID", "report ID") in words.
func auditWhat(l *i18n.Localizer, what string) string {
	kind, id, _ := strings.Cut(what, " ")
	switch kind {
	case "report":
		if id == "list" {
			return l.T("audit.what.report_list")
		}
		return l.T("audit.what.report", "ID", shortID(id))
	case "case":
		return l.T("audit.what.case")
	}
	return what
}

// auditCSV exports the entries the filters match, every one (no grouping), as CSV a spreadsheet
// opens: semicolons and a byte-order mark, as Danish spreadsheets expect.
func (p *Pages) auditCSV(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	names, f, err := p.auditQuery(r)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	f.Limit = auditExportMax
	entries, err := p.store.SearchAudit(r.Context(), actor(sess), f, server.ExportCSV) // logged as an export
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="adgangslog-%s.csv"`, p.store.Now().In(p.cfg.Location).Format(time.DateOnly)))
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	_ = cw.Write([]string{l.T("audit.no"), l.T("audit.when"), l.T("audit.event"), l.T("audit.user"), l.T("audit.device"),
		l.T("audit.case"), l.T("audit.purpose"), l.T("audit.detail"), l.T("audit.kind")})
	for _, e := range entries {
		at := time.UnixMilli(e.AtMs).In(p.cfg.Location).Format("2006-01-02 15:04:05")
		_ = cw.Write([]string{strconv.FormatInt(e.ID, 10), at, auditEvent(l, e.Kind), nameOr(l, names.users, e.ActorUserID),
			nameOr(l, names.devices, e.DeviceID), caseName(l, names.cases, e.CaseID), e.Purpose,
			strings.Join(auditDetails(l, names, e), "; "), e.Kind})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		p.cfg.Logger.Error().Err(err).Msg("write audit CSV")
	}
}
