package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/clientlib/app"
)

// unlockedApp serves the app for a fresh tablet with one synced visit and opens it with the PIN,
// with the server stopped (she is offline at the visit). It also gives a twin: a second tablet
// of the same user with the same visit, on which a benchmark measures its clientlib baseline
// between the app's requests (the app holds its own tablet open), so baseline and app are timed
// in the same moments of a shared machine and on the same amount of data. before runs on both.
func unlockedApp(b *testing.B, before func(tb *tablet, w *world)) (*world, *appBrowser, string, *tablet) {
	b.Helper()
	w := newWorld(b, "Kim")
	tb := enrollTablet(b, w.srv, "Kim")
	twin := enrollTablet(b, w.srv, "Kim")
	for _, t := range []*tablet{tb, twin} {
		if _, err := t.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	w.srv.shutdown()
	before(tb, w)
	before(twin, w)
	a := startApp(b, tb, app.Config{})
	br := newAppBrowser(b, a.base)
	start, _ := url.Parse(a.StartURL())
	if res, _ := br.get(start.RequestURI()); res.StatusCode != http.StatusSeeOther {
		b.Fatalf("start: %d", res.StatusCode)
	}
	_, page := br.get("/")
	csrf := csrfOf(b, page)
	if res, _ := br.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}}); res.StatusCode != http.StatusSeeOther {
		b.Fatalf("unlock: %d", res.StatusCode)
	}
	return w, br, csrf, twin
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// The time from her tap on "Gem observation" to the observation being saved (the form's POST
// answered, the observation and its outbox entry committed), p50 and p99 over 1,000 saves per
// iteration, beside a raw clientlib Observe on the twin tablet, one before each tap, so both
// get as many samples, the same load of the machine and a visit of the same size.
func BenchmarkAppObservationTapToSaved(b *testing.B) {
	const saves = 1000
	w, br, csrf, twin := unlockedApp(b, func(*tablet, *world) {})
	form := url.Values{"text": {benchText[:120]}, "csrf": {csrf}}
	var raw, taps []time.Duration
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		for range saves {
			start := time.Now()
			if _, err := twin.Observe(ctx, w.visitID, benchText[:120]); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(start))
			start = time.Now()
			res, _ := br.post("/visits/"+w.visitID+"/observations", form)
			taps = append(taps, time.Since(start))
			if res.StatusCode != http.StatusSeeOther {
				b.Fatalf("tap: %d", res.StatusCode)
			}
		}
	}
	b.StopTimer()
	slices.Sort(raw)
	slices.Sort(taps)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(taps, 0.50)), "tap-p50-ms")
	b.ReportMetric(ms(percentile(taps, 0.99)), "tap-p99-ms")
	b.ReportMetric(ms(percentile(raw, 0.50)), "observe-p50-ms")
	b.ReportMetric(ms(percentile(raw, 0.99)), "observe-p99-ms")
	b.ReportMetric(float64(percentile(taps, 0.50))/float64(percentile(raw, 0.50)), "ratio-p50-tap-vs-observe")
	b.ReportMetric(float64(percentile(taps, 0.99))/float64(percentile(raw, 0.99)), "ratio-p99-tap-vs-observe")
	// The page's overhead: what the tap costs beyond the Observe it makes (the bound is
	// this at most 2x the Observe): the HTTP round trip, the guard, the form and the handler.
	b.ReportMetric(float64(percentile(taps, 0.50)-percentile(raw, 0.50))/float64(percentile(raw, 0.50)), "ratio-p50-overhead-vs-observe")
	b.ReportMetric(float64(percentile(taps, 0.99)-percentile(raw, 0.99))/float64(percentile(raw, 0.99)), "ratio-p99-overhead-vs-observe")
}

// The time for the visit page to render with 500 observations on the visit, beside clientlib
// reading the same visit (Tablet.Visit) on the twin, one read before each page: the medians of
// 20 of each per iteration, so that one stall of a shared machine does not decide the figure.
func BenchmarkAppVisitPageWith500Observations(b *testing.B) {
	const pages = 20
	w, br, _, twin := unlockedApp(b, func(tb *tablet, w *world) {
		for range 500 {
			if _, err := tb.Observe(context.Background(), w.visitID, benchText[:120]); err != nil {
				b.Fatal(err)
			}
		}
	})
	ctx := context.Background()
	var reads, renders []time.Duration
	b.ResetTimer()
	for range b.N {
		for range pages {
			start := time.Now()
			if v, err := twin.Visit(ctx, w.visitID); err != nil || len(v.Observations) != 500 {
				b.Fatalf("visit: %d observations, %v", len(v.Observations), err)
			}
			reads = append(reads, time.Since(start))
			start = time.Now()
			res, page := br.get("/visits/" + w.visitID)
			renders = append(renders, time.Since(start))
			if res.StatusCode != http.StatusOK || strings.Count(page, `name="observation"`) != 500 {
				b.Fatalf("page: %d, %d observations", res.StatusCode, strings.Count(page, `name="observation"`))
			}
		}
	}
	b.StopTimer()
	slices.Sort(reads)
	slices.Sort(renders)
	read, render := percentile(reads, 0.50), percentile(renders, 0.50)
	b.ReportMetric(float64(render.Microseconds())/1000, "page-p50-ms")
	b.ReportMetric(float64(read.Microseconds())/1000, "visit-read-p50-ms")
	b.ReportMetric(float64(render)/float64(read), "ratio-page-vs-visit-read")
}
