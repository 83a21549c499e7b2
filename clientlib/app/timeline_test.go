package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/syncer"
)

// benchVisitView is a draft visit with n observations, as loadVisit makes it.
func benchVisitView(n int) *visitView {
	vv := &visitView{ChildName: map[string]string{}, SectionKeys: syncer.ReportSections}
	vv.ID, vv.ReportState, vv.Kind = syncer.NewID(), syncer.StateDraft, "supervised"
	for i := range n {
		vv.Observations = append(vv.Observations, clientlib.Observation{ID: syncer.NewID(), AtMs: 1_764_000_000_000 + int64(i)*1000,
			Text: strings.Repeat("Mor læser højt <for> Ida & Bo. ", 4)})
	}
	for _, k := range syncer.ReportSections {
		vv.Sections = append(vv.Sections, sectionView{Key: k})
	}
	vv.offer()
	return vv
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// The visit page's template alone with 500 observations (e2e's BenchmarkAppVisitPage measures
// the whole page beside clientlib's Visit).
func BenchmarkRenderVisitPage500(b *testing.B) {
	langs, err := languages()
	if err != nil {
		b.Fatal(err)
	}
	a := &App{cfg: Config{Now: time.Now}, langs: langs, lang: danish}
	vv := benchVisitView(500)
	for b.Loop() {
		if err := vv.prepare(langs[danish], "token"); err != nil {
			b.Fatal(err)
		}
		v := &view{L: langs[danish], CSRF: "token", Path: "/visits/" + vv.ID, Visit: vv}
		a.render(discardWriter{http.Header{}}, http.StatusOK, "visit", v)
	}
}

// The timeline's rows are written without html/template (see visitView.prepare): what she
// wrote, quotes and all, is text on the page and never markup, and each row has its checkbox,
// its mark control naming its own mark form, and that form.
func TestTheTimelineEscapesWhatSheWrote(t *testing.T) {
	langs, err := languages()
	if err != nil {
		t.Fatal(err)
	}
	vv := benchVisitView(2)
	vv.Observations[0].Text = `Ida: "<script>alert('x')</script>" & <b>hej</b>`
	vv.Observations[1].Mark = syncer.MarkChildWords
	if err := vv.prepare(langs[danish], `tok"en`); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	a := &App{cfg: Config{Now: time.Now}, langs: langs, lang: danish}
	w := &recordWriter{discardWriter: discardWriter{http.Header{}}, b: &b}
	a.render(w, http.StatusOK, "visit", &view{L: langs[danish], CSRF: `tok"en`, Visit: vv})
	page := b.String()
	for _, bad := range []string{"<script>", "<b>hej", `"<script`, `tok"en`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if !strings.Contains(page, `Ida: &#34;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34; &amp; &lt;b&gt;hej&lt;/b&gt;`) {
		t.Errorf("the observation's text is not on the page as text:\n%s", page)
	}
	for _, o := range vv.Observations {
		for _, want := range []string{
			`name="observation" value="` + o.ID + `"`,
			`<select name="mark" form="obs-mark-` + o.ID + `"`,
			`<form method="post" action="/visits/` + vv.ID + `/observations/` + o.ID + `/mark" id="obs-mark-` + o.ID + `"><input type="hidden" name="csrf" value="tok&#34;en">`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
	}
	if strings.Count(page, "Udelades i forældrenes kopi: barnets egne ord") != 1 || strings.Count(page, `value="child_words" selected`) != 1 {
		t.Errorf("the marked observation does not show its mark once")
	}
}

type recordWriter struct {
	discardWriter
	b *strings.Builder
}

func (r *recordWriter) Write(p []byte) (int, error) { return r.b.Write(p) }

func BenchmarkRenderVisitPage0(b *testing.B) {
	langs, err := languages()
	if err != nil {
		b.Fatal(err)
	}
	a := &App{cfg: Config{Now: time.Now}, langs: langs, lang: danish}
	vv := benchVisitView(0)
	for b.Loop() {
		if err := vv.prepare(langs[danish], "token"); err != nil {
			b.Fatal(err)
		}
		v := &view{L: langs[danish], CSRF: "token", Path: "/visits/" + vv.ID, Visit: vv}
		a.render(discardWriter{http.Header{}}, http.StatusOK, "visit", v)
	}
}
