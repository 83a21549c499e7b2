package app

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/syncer"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"card": func(v *view, c visitCard) any {
		return struct {
			V *view
			C visitCard
		}{v, c}
	},
	"conflict": func(v *view, c *clientlib.Conflict, anchor string) any {
		return struct {
			V      *view
			C      *clientlib.Conflict
			Anchor string
		}{v, c, anchor}
	},
}).ParseFS(templateFiles, "templates/*.html"))

func (a *App) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /start", a.start)
	mux.HandleFunc("GET /{$}", a.page(a.visitsPage))
	mux.HandleFunc("POST /unlock", a.unlockPost)
	mux.HandleFunc("POST /lock", func(w http.ResponseWriter, r *http.Request) { a.Lock(); seeOther(w, r, "/") })
	mux.HandleFunc("POST /lang", a.langPost)
	mux.HandleFunc("GET /status", a.statusFragment)
	mux.HandleFunc("POST /sync", a.act(a.syncPost))
	mux.HandleFunc("GET /rejected", a.page(a.rejectedPage))
	mux.HandleFunc("GET /visits/{id}", a.page(a.visitPage("visit")))
	mux.HandleFunc("GET /visits/{id}/submit", a.page(a.visitPage("submit")))
	mux.HandleFunc("POST /visits/{id}/submit", a.act(a.submitPost))
	mux.HandleFunc("POST /visits/{id}/start", a.act(a.startPost))
	mux.HandleFunc("POST /visits/{id}/end", a.act(a.endPost))
	mux.HandleFunc("POST /visits/{id}/present", a.act(a.presentPost))
	mux.HandleFunc("POST /visits/{id}/check/{key}", a.act(a.checkPost))
	mux.HandleFunc("POST /visits/{id}/observations", a.act(a.observePost))
	mux.HandleFunc("POST /visits/{id}/observations/draft", a.draftPost)
	mux.HandleFunc("POST /visits/{id}/sections/{key}", a.act(a.sectionPost))
	mux.HandleFunc("POST /visits/{id}/sections/{key}/mark", a.act(a.sectionMarkPost))
	mux.HandleFunc("POST /visits/{id}/observations/{obs}/mark", a.act(a.observationMarkPost))
	mux.HandleFunc("POST /visits/{id}/pull", a.act(a.pullPost))
	mux.HandleFunc("POST /visits/{id}/addenda", a.act(a.addendumPost))
	mux.HandleFunc("POST /visits/{id}/addenda/{addendum}/sign", a.act(a.signAddendumPost))
	mux.HandleFunc("POST /visits/{id}/conflicts/{conflict}", a.act(a.resolvePost))
	return mux
}

// view is what every page template gets.
type view struct {
	L        Lang
	CSRF     string
	Path     string
	NowMs    int64
	Flash    string
	Error    bool
	Sync     syncBar
	Next     string // the unlock page: where to go after
	Visits   *visitsView
	Visit    *visitView
	Rejected []clientlib.DeadLetter
}

// syncBar is the sync state shown at the top of every page.
type syncBar struct {
	Locked, Online, Syncing     bool
	Pending, Rejected, Conflict int
	LastSyncMs                  int64
	Err                         string // text key
	LockWarn                    string // when the 3-day lock is near
}

// start spends a one-time start secret and sets the session cookie. The tablet locks, so a new
// session always begins with the PIN.
func (a *App) start(w http.ResponseWriter, r *http.Request) {
	secret := r.URL.Query().Get("k")
	a.mu.Lock()
	at, ok := a.starts[secret]
	if ok {
		delete(a.starts, secret)
	}
	valid := ok && secret != "" && a.cfg.Now().Sub(at) <= startValidity
	if valid {
		a.session, a.csrf, a.idled = randomToken(), randomToken(), false
	}
	session, lang := a.session, a.langs[a.lang]
	a.mu.Unlock()
	if !valid {
		a.plainPage(w, http.StatusForbidden, lang, "start.spent")
		return
	}
	a.Lock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	seeOther(w, r, "/")
}

// page wraps a GET page: the unlock page while locked, otherwise render's view in its template.
func (a *App) page(render func(r *http.Request, t *clientlib.Tablet, v *view) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.touch()
		v := a.newView(r)
		var name string
		err := a.withTablet(func(t *clientlib.Tablet) error {
			v.Sync = a.syncBar(r.Context(), t, v.L)
			var err error
			name, err = render(r, t, v)
			return err
		})
		switch {
		case errors.Is(err, errLocked):
			a.unlockPage(w, r, v, http.StatusOK)
			return
		case err != nil:
			a.plainPage(w, syncer.ErrorCode(err).HTTPStatus(), v.L, errorKey(err))
			return
		}
		a.render(w, http.StatusOK, name, v)
	}
}

// act wraps a POST: it runs do with the open tablet and redirects to where do says (a plain
// form) or answers with a short sentence (the page's script saving as she types).
func (a *App) act(do func(r *http.Request, t *clientlib.Tablet) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.touch()
		var to string
		err := a.withTablet(func(t *clientlib.Tablet) error {
			var err error
			to, err = do(r, t)
			return err
		})
		script := r.Header.Get("X-Requested-With") == "samvaer"
		lang := a.language()
		if errors.Is(err, errLocked) {
			if script {
				w.Header().Set("X-Locked", "1")
				http.Error(w, lang.T("unlock.locked"), http.StatusUnauthorized)
				return
			}
			a.unlockPage(w, r, a.newView(r), http.StatusUnauthorized)
			return
		}
		if err != nil {
			var fe flashError
			key := errorKey(err)
			if errors.As(err, &fe) {
				key = fe.key
			}
			a.cfg.Logger.Info().Str("path", r.URL.Path).Str("code", string(syncer.ErrorCode(err))).Msg("refused")
			if script {
				http.Error(w, lang.T(key), syncer.ErrorCode(err).HTTPStatus())
				return
			}
			a.setFlash(key, true)
			if to == "" {
				to = "/"
			}
			seeOther(w, r, to)
			return
		}
		a.wroteSomething()
		if script {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte(lang.T("saved") + " " + lang.Clock(a.cfg.Now().UnixMilli())))
			return
		}
		seeOther(w, r, to)
	}
}

// flashError names the text a refused action shows, when the code alone does not say it.
type flashError struct {
	key string
	err error
}

func (e flashError) Error() string { return e.err.Error() }
func (e flashError) Unwrap() error { return e.err }

func (a *App) newView(r *http.Request) *view {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := &view{L: a.langs[a.lang], CSRF: a.csrf, Path: r.URL.Path, NowMs: a.cfg.Now().UnixMilli()}
	if a.flash != "" {
		v.Flash = v.L.T(a.flash)
		v.Error = a.flashArg == "error"
		a.flash, a.flashArg = "", ""
	}
	return v
}

func (a *App) language() Lang {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.langs[a.lang]
}

func (a *App) setFlash(key string, isError bool) {
	a.mu.Lock()
	a.flash, a.flashArg = key, ""
	if isError {
		a.flashArg = "error"
	}
	a.mu.Unlock()
}

func (a *App) render(w http.ResponseWriter, status int, name string, v *view) {
	var b bytes.Buffer
	if v.Visit != nil {
		b.Grow(len(v.Visit.Timeline) + len(v.Visit.MarkForms) + 32<<10)
	}
	if err := pages.ExecuteTemplate(&b, name, v); err != nil {
		a.cfg.Logger.Error().Str("template", name).Msg("render failed")
		http.Error(w, v.L.T("err.internal"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// plainPage is a page with one sentence and a way back.
func (a *App) plainPage(w http.ResponseWriter, status int, lang Lang, key string) {
	a.render(w, status, "plain", &view{L: lang, Flash: lang.T(key), Error: true, NowMs: a.cfg.Now().UnixMilli(), Sync: syncBar{Locked: true}})
}

func (a *App) unlockPage(w http.ResponseWriter, r *http.Request, v *view, status int) {
	v.Sync = syncBar{Locked: true}
	v.Next = r.URL.Path
	if r.Method != http.MethodGet {
		v.Next = "/"
	}
	a.mu.Lock()
	idled, wiped := a.idled, a.wiped
	a.mu.Unlock()
	if v.Flash == "" && idled {
		v.Flash = v.L.T("unlock.idle")
	}
	if wiped {
		v.Flash, v.Error = v.L.T("err.wiped"), true
	}
	a.render(w, status, "unlock", v)
}

func (a *App) unlockPost(w http.ResponseWriter, r *http.Request) {
	a.touch()
	pin := r.PostFormValue("pin")
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = "/"
	}
	var err error
	if pin == "" {
		err = flashError{key: "err.pinmissing", err: syncer.Errorf(syncer.CodeInvalid, "no PIN")}
	} else {
		err = a.unlock(pin)
	}
	if err != nil {
		key := "err.wrongpin"
		var fe flashError
		switch {
		case errors.As(err, &fe):
			key = fe.key
		case syncer.ErrorCode(err) == syncer.CodeFailedPrecondition:
			key = "err.destroyed"
		case syncer.ErrorCode(err) != syncer.CodeUnauthenticated:
			key = "err.internal"
		}
		a.cfg.Logger.Info().Str("code", string(syncer.ErrorCode(err))).Msg("unlock refused")
		v := a.newView(r)
		v.Flash, v.Error = v.L.T(key), true
		a.unlockPage(w, &http.Request{Method: http.MethodGet, URL: r.URL}, v, http.StatusUnauthorized)
		return
	}
	seeOther(w, r, next)
}

func (a *App) langPost(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.lang == danish {
		a.lang = english
	} else {
		a.lang = danish
	}
	a.mu.Unlock()
	seeOther(w, r, backTo(r))
}

// backTo is the page a form came from (a path of this app only).
func backTo(r *http.Request) string {
	back := r.PostFormValue("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.Contains(back, "\\") {
		return "/"
	}
	return back
}

func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// statusFragment is the sync bar alone, which the page's script fetches every few seconds. It
// does not count as use (an open page must still lock itself when nobody touches it).
func (a *App) statusFragment(w http.ResponseWriter, r *http.Request) {
	a.lockIfIdle()
	v := a.newViewQuiet()
	if back := r.URL.Query().Get("back"); strings.HasPrefix(back, "/") && !strings.HasPrefix(back, "//") && !strings.Contains(back, "\\") {
		v.Path = back
	}
	err := a.withTablet(func(t *clientlib.Tablet) error {
		v.Sync = a.syncBar(r.Context(), t, v.L)
		return nil
	})
	if err != nil {
		w.Header().Set("X-Locked", "1")
		v.Sync = syncBar{Locked: true}
	}
	a.render(w, http.StatusOK, "syncbar", v)
}

// newViewQuiet is a view that leaves a waiting notice for the next page.
func (a *App) newViewQuiet() *view {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &view{L: a.langs[a.lang], CSRF: a.csrf, NowMs: a.cfg.Now().UnixMilli()}
}

// lockWarnBefore is how long before the tablet's lock for lack of contact the bar warns.
const lockWarnBefore = 24 * time.Hour

func (a *App) syncBar(ctx context.Context, t *clientlib.Tablet, l Lang) syncBar {
	var b syncBar
	st, err := t.Status(ctx)
	if err != nil {
		b.Err = errorKey(err)
		return b
	}
	b.Pending, b.Rejected, b.Conflict, b.LastSyncMs = st.Pending, st.DeadLetters, st.OpenConflicts, st.LastSyncMs
	a.mu.Lock()
	as := a.sync
	a.mu.Unlock()
	if as != nil {
		b.Online, b.Syncing, b.Err = as.state()
	}
	lockAfter := a.cfg.Options.LockAfter
	if lockAfter <= 0 {
		lockAfter = clientlib.DefaultLockAfter
	}
	if st.LastSyncMs > 0 {
		lockAt := st.LastSyncMs + lockAfter.Milliseconds()
		if now := a.cfg.Now().UnixMilli(); lockAt-now < lockWarnBefore.Milliseconds() {
			b.LockWarn = l.T("sync.lockwarn", "When", l.When(lockAt, now))
		}
	}
	return b
}

func (a *App) syncPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	a.mu.Lock()
	as := a.sync
	a.mu.Unlock()
	back := backTo(r)
	if as == nil {
		return back, errLocked
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := as.syncNow(ctx); err != nil {
		return back, err
	}
	a.setFlash("sync.done", false)
	return back, nil
}

// tabletWiped records that the server revoked the tablet and clientlib erased it.
func (a *App) tabletWiped() {
	a.mu.Lock()
	a.wiped = true
	a.mu.Unlock()
	a.Lock()
}

// visitsView is the list of today's, upcoming and earlier unfinished visits.
type visitsView struct {
	Today, Upcoming, Earlier []visitCard
}

type visitCard struct {
	clientlib.Visit
	Children string
}

func (a *App) visitsPage(r *http.Request, t *clientlib.Tablet, v *view) (string, error) {
	visits, err := t.Visits(r.Context())
	if err != nil {
		return "", err
	}
	names := map[string]string{}
	vv := &visitsView{}
	dayStart, dayEnd := v.L.dayBounds(a.cfg.Now())
	for _, vis := range visits {
		if _, ok := names[vis.CaseID]; !ok {
			c, err := t.Case(r.Context(), vis.CaseID)
			if err == nil {
				names[vis.CaseID] = childNames(c)
			}
		}
		card := visitCard{Visit: vis, Children: names[vis.CaseID]}
		switch {
		case vis.StartMs >= dayEnd:
			vv.Upcoming = append(vv.Upcoming, card)
		case vis.StartMs >= dayStart || vis.EndMs >= dayStart:
			vv.Today = append(vv.Today, card)
		case vis.ReportState == syncer.StateDraft:
			vv.Earlier = append(vv.Earlier, card)
		}
	}
	slices.Reverse(vv.Earlier) // the most recent first
	v.Visits = vv
	return "visits", nil
}

func childNames(c clientlib.Case) string {
	names := make([]string, len(c.Children))
	for i, ch := range c.Children {
		names[i] = ch.Name
	}
	return strings.Join(names, ", ")
}

// visitView is one visit's page.
type visitView struct {
	clientlib.Visit
	Case            clientlib.Case
	Children        string
	Decision        *clientlib.Decision
	ChildName       map[string]string
	ConsentMissing  bool
	Locked          bool // the report is submitted
	Phases          []phaseView
	Sections        []sectionView
	PresentConflict *clientlib.Conflict
	Drafts          []clientlib.Addendum // addendum drafts waiting to be signed
	SectionKeys     []string
	DeviceID        string // this tablet: a conflict's other side may have been written here
	// Timeline is Observations as the page shows them, and Marks the mark choices, both made
	// once per page by prepare (the page's template does per row only what differs by row).
	Draft     string        // the observation she was typing and has not saved yet
	Timeline  template.HTML // the observations' rows
	MarkForms template.HTML // the observations' mark forms (outside the pull form)
	Marks     markChoices
	// What the page offers, from syncer.Rules for the role she holds the case in.
	CanObserve, CanVisit, CanCheck, CanWrite, CanSubmit, CanAddendum, CanResolve bool
}

// tabletRoles is the role a tablet's case data is held in: Pull gives case records only to a
// consultant of the case (syncer.Rules, OpHold), so a visit on the tablet is one its user works
// on as the consultant. The pages offer what syncer.Rules allows that role, the same table Push
// and the server's pages obey.
var tabletRoles = []string{syncer.RoleConsultant}

// offer fills in what the visit page offers.
func (vv *visitView) offer() {
	may := func(typ, state string, op syncer.Operation, fields ...string) bool {
		return syncer.Allowed(tabletRoles, typ, state, op, fields...)
	}
	state := vv.ReportState
	vv.CanObserve = may(syncer.TypeObservation, "", syncer.OpCreate, "visit_id", "at_ms", "text")
	vv.CanVisit = may(syncer.TypeVisit, "", syncer.OpUpdate, "actual_start_ms", "actual_end_ms", "present")
	vv.CanCheck = may(syncer.TypeChecklistItem, "", syncer.OpUpdate, "checked")
	vv.CanWrite = !vv.Locked && may(syncer.TypeReport, state, syncer.OpUpdate, syncer.ReportSections...)
	vv.CanSubmit = !vv.Locked && !vv.ConsentMissing && may(syncer.TypeReport, state, syncer.OpSubmit)
	vv.CanAddendum = vv.Locked && may(syncer.TypeAddendum, syncer.StateDraft, syncer.OpCreate, "report_id", "visit_id", "section", "text")
	vv.CanResolve = may(syncer.TypeConflict, "", syncer.OpUpdate, "resolved")
}

// markChoices are the words of the mark controls and their options for each mark ("" for
// none), made by the "pmark-options" template.
type markChoices struct {
	Label, Save string
	Options     map[string]template.HTML
}

// prepare makes the mark choices and the timeline in the page's language. The timeline is the
// one part of a page that grows with the visit (hundreds of observations), and html/template
// spends most of a big visit's page on its escaping, called by reflection for every value of
// every row: its rows are written here instead, each value escaped with template's own
// HTMLEscapeString and placed only in element text or a double-quoted attribute, the fixed
// parts (the mark options) rendered by the template once per page.
func (vv *visitView) prepare(l Lang, csrf string) error {
	vv.Marks = markChoices{Label: l.T("pmark.label"), Save: l.T("pmark.save"), Options: map[string]template.HTML{}}
	for _, mark := range append([]string{""}, syncer.Marks...) {
		var b strings.Builder
		if err := pages.ExecuteTemplate(&b, "pmark-options", struct {
			L     Lang
			Mark  string
			Marks []string
		}{l, mark, syncer.Marks}); err != nil {
			return err
		}
		vv.Marks.Options[mark] = template.HTML(b.String()) // html/template's own output
	}
	esc := template.HTMLEscapeString
	label, save, csrfAttr := esc(vv.Marks.Label), esc(vv.Marks.Save), esc(csrf)
	markURL := "/visits/" + esc(url.PathEscape(vv.ID)) + "/observations/"
	var rows, forms strings.Builder
	rows.Grow(len(vv.Observations) * (700 + len(vv.Marks.Options[""])))
	forms.Grow(len(vv.Observations) * 250)
	w := func(b *strings.Builder, parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	// A visit's observations fall in few minutes: each minute's clock time is written once.
	// (A time zone's offset is a whole number of minutes, so the UTC minute fixes the local one.)
	clocks := map[int64]string{}
	for _, o := range vv.Observations {
		minute := o.AtMs - o.AtMs%60_000
		clock, ok := clocks[minute]
		if !ok {
			clock = esc(l.Clock(o.AtMs))
			clocks[minute] = clock
		}
		id, text := esc(o.ID), esc(o.Text)
		w(&rows, `<li><time>`, clock, `</time> `)
		if vv.CanWrite {
			w(&rows, `<label class="pick"><input type="checkbox" name="observation" value="`, id, `"> <span class="obs">`, text, `</span></label>`)
		} else {
			w(&rows, `<span class="obs">`, text, `</span>`)
		}
		if o.Mark != "" {
			w(&rows, "\n    <span class=\"pmark\">", esc(l.T("pmark.badge."+o.Mark)), `</span>`)
		}
		if vv.CanWrite {
			w(&rows, "\n    <span class=\"pmark-set\"><select name=\"mark\" form=\"obs-mark-", id, `" aria-label="`, label, `">`,
				string(vv.Marks.Options[o.Mark]), `</select> <button class="small" form="obs-mark-`, id, `">`, save, `</button></span>`)
			w(&forms, `<form method="post" action="`, markURL, esc(url.PathEscape(o.ID)), `/mark" id="obs-mark-`, id,
				`"><input type="hidden" name="csrf" value="`, csrfAttr, `"></form>`)
		}
		rows.WriteString("</li>\n")
	}
	vv.Timeline, vv.MarkForms = template.HTML(rows.String()), template.HTML(forms.String())
	return nil
}

type phaseView struct {
	Key   string
	Items []clientlib.ChecklistItem
}

type sectionView struct {
	Key      string
	Text     string
	Separate bool   // the child's perspective and the assessment are kept apart from the rest
	Mark     string // the mark for the parents' copy (syncer.Marks), "" for none
	Conflict *clientlib.Conflict
}

func (a *App) loadVisit(ctx context.Context, t *clientlib.Tablet, visitID string) (*visitView, error) {
	vis, err := t.Visit(ctx, visitID)
	if err != nil {
		return nil, err
	}
	vv := &visitView{Visit: vis, ChildName: map[string]string{}, SectionKeys: syncer.ReportSections, DeviceID: t.DeviceID()}
	if c, err := t.Case(ctx, vis.CaseID); err == nil {
		vv.Case, vv.Children = c, childNames(c)
		for _, ch := range c.Children {
			vv.ChildName[ch.ID] = ch.Name
		}
		for i := range c.Decisions {
			if d := c.Decisions[i]; d.Kind == vis.Kind && (vv.Decision == nil || d.ID > vv.Decision.ID) {
				vv.Decision = &c.Decisions[i]
			}
		}
	}
	if err := t.WrittenDescriptionsAllowed(ctx, visitID); syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
		vv.ConsentMissing = true
	} else if err != nil {
		return nil, err
	}
	vv.Locked = vis.ReportState != syncer.StateDraft
	vv.offer()
	for _, phase := range []string{"before", "during", "after"} {
		p := phaseView{Key: phase}
		for _, it := range vis.Checklist {
			if it.Phase == phase {
				p.Items = append(p.Items, it)
			}
		}
		vv.Phases = append(vv.Phases, p)
	}
	conflicts, err := t.Conflicts(ctx)
	if err != nil {
		return nil, err
	}
	conflictOf := func(recordID, field string) *clientlib.Conflict {
		i := slices.IndexFunc(conflicts, func(c clientlib.Conflict) bool { return c.RecordID == recordID && c.Field == field })
		if i < 0 {
			return nil
		}
		return &conflicts[i]
	}
	for _, s := range vis.Report {
		vv.Sections = append(vv.Sections, sectionView{Key: s.Key, Text: s.Text,
			Separate: s.Key == "child_perspective" || s.Key == "assessment", Mark: s.Mark, Conflict: conflictOf(vis.ReportID, s.Key)})
	}
	vv.PresentConflict = conflictOf(vis.ID, "present")
	if vv.Draft, err = t.ObservationDraft(ctx, visitID); err != nil {
		return nil, err
	}
	for _, ad := range vis.Addenda {
		if ad.State == syncer.StateDraft {
			vv.Drafts = append(vv.Drafts, ad)
		}
	}
	return vv, nil
}

// visitPage shows a visit with the template name: the visit page or the submit confirmation.
func (a *App) visitPage(name string) func(r *http.Request, t *clientlib.Tablet, v *view) (string, error) {
	return func(r *http.Request, t *clientlib.Tablet, v *view) (string, error) {
		vv, err := a.loadVisit(r.Context(), t, r.PathValue("id"))
		if err != nil {
			return "", err
		}
		if err := vv.prepare(v.L, v.CSRF); err != nil {
			return "", err
		}
		v.Visit = vv
		return name, nil
	}
}

func (a *App) rejectedPage(r *http.Request, t *clientlib.Tablet, v *view) (string, error) {
	dl, err := t.DeadLetters(r.Context())
	if err != nil {
		return "", err
	}
	v.Rejected = dl
	return "rejected", nil
}

func visitPath(r *http.Request, anchor string) string {
	p := "/visits/" + r.PathValue("id")
	if anchor != "" {
		p += "#" + anchor
	}
	return p
}

func (a *App) startPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	return visitPath(r, "times"), t.StartVisit(r.Context(), r.PathValue("id"))
}

func (a *App) endPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	return visitPath(r, "times"), t.EndVisit(r.Context(), r.PathValue("id"))
}

func (a *App) presentPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	return visitPath(r, "present"), t.SetPresent(r.Context(), r.PathValue("id"), formText(r, "text"))
}

func (a *App) checkPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	checked, _ := strconv.ParseBool(r.PostFormValue("checked"))
	return visitPath(r, "checklist"), t.Check(r.Context(), r.PathValue("id"), r.PathValue("key"), checked)
}

// Quick marks: each notes an observation at once and ticks the checklist item it stands for.
var quickMarks = map[string]struct{ label, item string }{
	"incident":   {"mark.incident", ""},
	"intervened": {"mark.intervened", "intervened"},
	"stopped":    {"mark.stopped", "stopped_early"},
}

func (a *App) observePost(r *http.Request, t *clientlib.Tablet) (string, error) {
	ctx, visitID := r.Context(), r.PathValue("id")
	to := visitPath(r, "observe")
	text := strings.TrimSpace(formText(r, "text"))
	mark, marked := quickMarks[r.PostFormValue("mark")]
	if marked {
		label := a.language().T(mark.label)
		if text == "" {
			text = label
		} else {
			text = label + ": " + text
		}
	}
	if text == "" {
		return to, nil // an empty tap writes nothing
	}
	// Saved, what she typed is no longer her draft (in the same transaction).
	if _, err := t.ObserveDraft(ctx, visitID, text); err != nil {
		return to, err
	}
	if marked && mark.item != "" {
		return to, t.Check(ctx, visitID, mark.item, true)
	}
	return to, nil
}

// draftPost keeps the observation she is typing, sent by the page's script as she types (at
// most a second or two after she stops), so the idle lock or a dying battery loses none of it.
// Typing counts as use. When the lock came first (she started typing just as it fell due), the
// draft is still kept, sealed so that only the unlocked tablet reads it, and the answer says
// the app is locked: the page then asks for the PIN and shows the draft after it.
func (a *App) draftPost(w http.ResponseWriter, r *http.Request) {
	ctx, visitID, text := r.Context(), r.PathValue("id"), formText(r, "text")
	err := a.withTablet(func(t *clientlib.Tablet) error {
		a.touch()
		return t.SetObservationDraft(ctx, visitID, text)
	})
	locked := errors.Is(err, errLocked)
	if locked {
		err = clientlib.KeepObservationDraft(ctx, a.cfg.Home, visitID, text)
	}
	lang := a.language()
	if err != nil {
		a.cfg.Logger.Info().Str("path", r.URL.Path).Str("code", string(syncer.ErrorCode(err))).Msg("draft refused")
		http.Error(w, lang.T(errorKey(err)), syncer.ErrorCode(err).HTTPStatus())
		return
	}
	if r.Header.Get("X-Requested-With") != "samvaer" {
		seeOther(w, r, visitPath(r, "observe"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if locked {
		w.Header().Set("X-Locked", "1")
		w.WriteHeader(http.StatusAccepted)
	}
	w.Write([]byte(lang.T("draft.saved") + " " + lang.Clock(a.cfg.Now().UnixMilli())))
}

func (a *App) sectionPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	key := r.PathValue("key")
	err := t.SetReportSection(r.Context(), r.PathValue("id"), key, formText(r, "text"))
	if syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
		err = flashError{key: "err.locked", err: err}
	}
	return visitPath(r, "section-"+key), err
}

// sectionMarkPost sets or clears a section's mark for the parents' copy.
func (a *App) sectionMarkPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	key := r.PathValue("key")
	return visitPath(r, "section-"+key), lockedFlash(t.MarkSection(r.Context(), r.PathValue("id"), key, r.PostFormValue("mark")))
}

// observationMarkPost sets or clears an observation's mark for the parents' copy.
func (a *App) observationMarkPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	return visitPath(r, "observe"), lockedFlash(t.MarkObservation(r.Context(), r.PathValue("id"), r.PathValue("obs"), r.PostFormValue("mark")))
}

// lockedFlash says a refusal for a submitted report in the app's words.
func lockedFlash(err error) error {
	if syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
		return flashError{key: "err.locked", err: err}
	}
	return err
}

// pullPost puts the observations she picked, each with its time, at the end of a report
// section, in the timeline's order; a picked observation's mark for the parents' copy marks
// the section.
func (a *App) pullPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	ctx, visitID, key := r.Context(), r.PathValue("id"), r.PostFormValue("section")
	to := visitPath(r, "section-"+key)
	if err := r.ParseForm(); err != nil {
		return to, syncer.Errorf(syncer.CodeInvalid, "unreadable form")
	}
	picked := r.PostForm["observation"]
	if len(picked) == 0 {
		return visitPath(r, "observe"), nil
	}
	vis, err := t.Visit(ctx, visitID)
	if err != nil {
		return to, err
	}
	j := slices.IndexFunc(vis.Report, func(s clientlib.ReportSection) bool { return s.Key == key })
	if j < 0 {
		return to, syncer.Errorf(syncer.CodeNotFound, "no such section")
	}
	text := strings.TrimRight(vis.Report[j].Text, "\n")
	found, mark := 0, ""
	for _, o := range vis.Observations {
		if !slices.Contains(picked, o.ID) {
			continue
		}
		found++
		if text != "" {
			text += "\n\n"
		}
		text += a.language().Clock(o.AtMs) + " " + o.Text
		if mark == "" {
			mark = o.Mark
		}
	}
	if found != len(picked) {
		return to, syncer.Errorf(syncer.CodeNotFound, "no such observation")
	}
	// A marked observation's mark comes with it: the section is marked too (unless it is
	// already), or the parents' copy would show in the section what it leaves out of the timeline.
	err = t.SetReportSectionMarked(ctx, visitID, key, text, mark)
	if syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
		err = flashError{key: "err.locked", err: err}
	}
	return to, err
}

func (a *App) submitPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	ctx, visitID := r.Context(), r.PathValue("id")
	if err := t.WrittenDescriptionsAllowed(ctx, visitID); err != nil {
		if syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
			err = flashError{key: "consent.missing", err: err}
		}
		return visitPath(r, ""), err
	}
	if err := t.Submit(ctx, visitID); err != nil {
		if syncer.ErrorCode(err) == syncer.CodeFailedPrecondition {
			err = flashError{key: "err.locked", err: err}
		}
		return visitPath(r, ""), err
	}
	a.setFlash("submit.done", false)
	return visitPath(r, "report"), nil
}

func (a *App) addendumPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	text := strings.TrimSpace(formText(r, "text"))
	to := visitPath(r, "addenda")
	if text == "" {
		return to, nil
	}
	section := r.PostFormValue("section")
	if section != "" && !slices.Contains(syncer.ReportSections, section) {
		return to, syncer.Errorf(syncer.CodeInvalid, "no such section")
	}
	_, err := t.AddAddendum(r.Context(), r.PathValue("id"), section, text)
	return to, err
}

func (a *App) signAddendumPost(r *http.Request, t *clientlib.Tablet) (string, error) {
	return visitPath(r, "addenda"), t.SignAddendum(r.Context(), r.PathValue("addendum"))
}

// resolvePost closes a conflict: keep this version, take the other, or the text she wrote.
func (a *App) resolvePost(r *http.Request, t *clientlib.Tablet) (string, error) {
	ctx, id := r.Context(), r.PathValue("conflict")
	to := visitPath(r, r.PostFormValue("anchor"))
	conflicts, err := t.Conflicts(ctx)
	if err != nil {
		return to, err
	}
	i := slices.IndexFunc(conflicts, func(c clientlib.Conflict) bool { return c.ID == id })
	if i < 0 {
		return to, syncer.Errorf(syncer.CodeNotFound, "no such conflict")
	}
	var text string
	switch r.PostFormValue("choice") {
	case "keep":
		text = conflicts[i].CurrentValue
	case "other":
		text = conflicts[i].OtherValue
	case "write":
		text = formText(r, "text")
	default:
		return to, syncer.Errorf(syncer.CodeInvalid, "choose keep, other or write")
	}
	if err := t.Resolve(ctx, id, text); err != nil {
		return to, err
	}
	a.setFlash("conflict.resolved", false)
	return to, nil
}

// formText is a text field as typed, with the browser's CRLF line ends made LF.
func formText(r *http.Request, name string) string {
	return strings.ReplaceAll(r.PostFormValue(name), "\r\n", "\n")
}

// errorKey is the text shown for an error, by its code.
func errorKey(err error) string {
	if errors.Is(err, clientlib.ErrWiped) {
		return "err.wiped"
	}
	switch syncer.ErrorCode(err) {
	case syncer.CodeInvalid:
		return "err.invalid"
	case syncer.CodeNotFound:
		return "err.notfound"
	case syncer.CodePermissionDenied:
		return "err.denied"
	case syncer.CodeResourceExhausted:
		return "err.toolarge"
	case syncer.CodeUnavailable:
		return "err.offline"
	case syncer.CodeFailedPrecondition:
		return "err.stale"
	}
	return "err.internal"
}
