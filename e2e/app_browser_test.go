package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// appProcess is `samvaer tablet app` running as its own process, as on a tablet.
type appProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
}

// startAppProcess starts the app on a free loopback port and reads the one-time URL it prints.
// The PIN is not given to it: it is asked on the page.
func startAppProcess(t *testing.T, bin, home string, logs *syncBuffer) *appProcess {
	t.Helper()
	return startAppProcessArgs(t, bin, home, logs)
}

// startAppProcessArgs is startAppProcess with more of the app's flags.
func startAppProcessArgs(t *testing.T, bin, home string, logs *syncBuffer, args ...string) *appProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"tablet", "--home", home, "app", "--listen", "127.0.0.1:0", "--retry", "1s", "--log", "json"}, args...)...)
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &appProcess{cmd: cmd, logs: logs}
	t.Cleanup(p.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the app's start URL: %v (logs: %s)", err, logs.String())
	}
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("the app printed no URL: %q", line)
	}
	p.url = strings.TrimSpace(line[i:])
	return p
}

// kill ends the app the way a dying battery or the OS does: SIGKILL, no shutdown.
func (p *appProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// waitFor polls a JavaScript condition on the page until it holds; a page that is navigating
// meanwhile is asked again.
func waitFor(t *testing.T, b context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			page, _ := chromedp.Run(b, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("waiting for %s: %v\npage: %s", what, err, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noHorizontalScroll checks the page fits the width it is shown at.
func noHorizontalScroll(t *testing.T, b context.Context, width, height int64) {
	t.Helper()
	step(t, b, chromedp.EmulateViewport(width, height))
	fits, err := chromedp.Run(b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= document.documentElement.clientWidth`))
	if err != nil || !fits {
		t.Fatalf("at %d×%d the page scrolls sideways (%v)", width, height, err)
	}
}

// viewShot saves what the tablet's screen shows (the viewport, not the whole page), scrolled so
// the element css is just under the sticky sync bar ("" for the top of the page).
func viewShot(t *testing.T, name, css string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		js := `window.scrollTo(0, 0)`
		if css != "" {
			js = `(() => { const e = document.querySelector(` + strconv.Quote(css) + `); e.scrollIntoView(); window.scrollBy(0, -document.querySelector("header.top").offsetHeight - 8); })()`
		}
		if _, err := chromedp.Evaluate[any](js, chromedp.EvalAsValue)(ctx, tg); err != nil {
			return err
		}
		png, err := chromedp.CaptureScreenshot()(ctx, tg)
		if err != nil {
			return err
		}
		return saveScreenshot(t, name, png)
	})
}

// timelineLen counts the observations on the visit page.
func timelineLen(t *testing.T, b context.Context) int {
	t.Helper()
	n, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("#timeline li:not(.none)").length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// unlockInBrowser opens url (a start URL or a page) and gives the PIN on the page.
func unlockInBrowser(t *testing.T, b context.Context, url string, shots ...string) {
	t.Helper()
	step(t, b, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#pin")))
	for _, name := range shots {
		step(t, b, screenshot(t, name))
	}
	step(t, b,
		chromedp.SendKeys(chromedp.CSS("#pin"), "4711"),
		chromedp.Submit(chromedp.CSS("#unlock")),
		chromedp.WaitNotPresent(chromedp.CSS("#pin")),
	)
}

// The consultant's visit in the app, in Chromium, with the server stopped for the whole visit:
// she unlocks, opens today's visit, starts it, ticks the checklist, writes three observations
// (one a quick mark) and two sections, locks and unlocks; the app is killed with SIGKILL while
// she types and restarted, and what she typed seconds before is there. Then the server starts,
// the app syncs on its own, a conflict with her second tablet appears inline and she writes the
// final text, and she submits: the caseworker's inbox has the report. Nothing she wrote is in
// the app's log. Screenshots go to the test's screenshot directory.
func TestBrowserConsultantsVisitOffline(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for _, u := range [][2]string{{"sara", "caseworker"}, {"kim", "consultant"}} {
		_, err := st.AddUser(ctx, u[0], []string{u[1]})
		mustDo(t, err)
	}
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida Sørensen", "Emil Sørensen"}, Parents: []string{"Mette Sørensen"}, Caseworker: "sara", Reference: "2026-0042"})
	mustDo(t, err)
	start := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	_, err = st.SetDecision(ctx, nil, caseID, server.Decision{Kind: syncer.KindSupervised, FromMs: start.Add(-24 * time.Hour).UnixMilli(),
		ToMs: start.Add(90 * 24 * time.Hour).UnixMilli(), Purpose: "At Ida og Emil bevarer kontakten til deres mor i trygge rammer."})
	mustDo(t, err)
	_, _, err = st.SetConditions(ctx, nil, caseID, "Mor møder ædru op.\nIngen snak om anbringelsen.")
	mustDo(t, err)
	_, err = st.AddGoal(ctx, nil, caseID, "Mor aflæser Idas signaler og sætter grænser.")
	mustDo(t, err)
	kids, err := st.ChildIDs(ctx, caseID)
	mustDo(t, err)
	_, err = st.AddWish(ctx, nil, caseID, kids[0], "Ida vil gerne have mormor med.", true, 0)
	mustDo(t, err)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "kim", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Place: "Åbyhøj", Room: "Rum 2"})
	mustDo(t, err)

	bin := buildSamvaer(t)
	cli := cliTablet{t: t, bin: bin, home: filepath.Join(t.TempDir(), "kim")}
	code, _, err := st.NewEnrollmentCode(ctx, "kim")
	mustDo(t, err)
	cli.must("enroll", "--server", s.URL(), "--code", code, "--name", "iPad 3, Team Nord")
	cli.must("sync")
	second := enrollTablet(t, s, "kim") // her other tablet, offline too
	_, err = second.Sync(ctx)
	mustDo(t, err)

	s.shutdown() // no server for the whole visit
	logs := &syncBuffer{}
	p := startAppProcess(t, bin, cli.home, logs)
	b := newBrowser(t)
	step(t, b, chromedp.EmulateViewport(1024, 768))
	unlockInBrowser(t, b, p.url, "app-unlock")
	step(t, b, chromedp.WaitVisible(chromedp.CSS("a.card.visit")))
	if page := text(t, b, "main"); !strings.Contains(page, "I dag") || !strings.Contains(page, "Ida Sørensen, Emil Sørensen") || !strings.Contains(page, "Overvåget samvær") {
		t.Fatalf("today's visits: %q", page)
	}
	if bar := text(t, b, "#syncbar"); !strings.Contains(bar, "Offline") {
		t.Fatalf("the sync bar does not say offline: %q", bar)
	}
	step(t, b, viewShot(t, "app-visits", ""), chromedp.Click(chromedp.CSS("a.card.visit")), chromedp.WaitVisible(chromedp.CSS("#visit-start")))
	summary := text(t, b, "#casesummary")
	for _, want := range []string{"trygge rammer", "Mor møder ædru op.", "aflæser Idas signaler", "Ida Sørensen: Ida vil gerne have mormor med."} {
		if !strings.Contains(summary, want) {
			t.Fatalf("the case summary lacks %q: %q", want, summary)
		}
	}

	// Start, tick, observe.
	step(t, b, chromedp.Click(chromedp.CSS("#visit-start")), chromedp.WaitVisible(chromedp.CSS("#visit-end")))
	if actual := text(t, b, "#actual"); !strings.HasPrefix(actual, "Startet ") {
		t.Fatalf("the start time: %q", actual)
	}
	step(t, b, chromedp.Click(chromedp.CSS("#check-room_ready")), chromedp.WaitVisible(chromedp.CSS("#check-room_ready.on")))
	observations := []string{"Ida løber hen til sin mor og giver hende et knus.", "Emil vil ikke slippe pædagogens hånd."}
	for _, o := range observations {
		step(t, b, chromedp.SetValue(chromedp.CSS("#obs-text"), o), chromedp.Click(chromedp.CSS("#obs-save")),
			chromedp.WaitVisible(chromedp.Search(`//ol[@id="timeline"]//span[contains(., "`+o[:12]+`")]`)))
	}
	step(t, b, chromedp.SetValue(chromedp.CSS("#obs-text"), "Mor hæver stemmen; jeg beder hende tale roligt."), chromedp.Click(chromedp.CSS("#mark-intervened")),
		chromedp.WaitVisible(chromedp.CSS("#check-intervened.on")))
	if tl := text(t, b, "#timeline"); !strings.Contains(tl, "Trådte til: Mor hæver stemmen") || timelineLen(t, b) != 3 {
		t.Fatalf("the timeline: %q", tl)
	}

	// Two sections, saved as she types.
	const opening, interaction = "Mor kommer til tiden; Ida er genert et øjeblik.", "Mor og Ida bygger med klodser."
	step(t, b, chromedp.SendKeys(chromedp.CSS("#text-opening"), opening), chromedp.SendKeys(chromedp.CSS("#text-interaction"), interaction))
	waitFor(t, b, "both sections saved", `[...document.querySelectorAll("#section-opening .saved, #section-interaction .saved")].every(e => e.textContent.startsWith("Gemt"))`, 10*time.Second)
	// An observation pulled into a section, with its time.
	step(t, b, chromedp.Click(chromedp.CSS(`#timeline input[name="observation"]`)), chromedp.SetValue(chromedp.CSS("#pull-section"), "interaction"),
		chromedp.Click(chromedp.CSS("#pull-button")))
	waitFor(t, b, "the observation in the section", `(document.querySelector("#text-interaction") || {value: ""}).value.includes("giver hende et knus")`, 10*time.Second)
	if v, _ := chromedp.Run(b, chromedp.Value(chromedp.CSS("#text-interaction"))); !strings.HasPrefix(v, interaction+"\n\n") || !strings.HasSuffix(v, observations[0]) {
		t.Fatalf("the interaction after pulling an observation in: %q", v)
	}
	noHorizontalScroll(t, b, 1024, 768)
	step(t, b, viewShot(t, "app-visit", ""), viewShot(t, "app-checklist", "#times"), viewShot(t, "app-report", "#report"))
	noHorizontalScroll(t, b, 768, 1024)
	step(t, b, viewShot(t, "app-visit-portrait", ""))
	noHorizontalScroll(t, b, 390, 844)
	step(t, b, chromedp.EmulateViewport(1024, 768))

	// Lock and unlock.
	step(t, b, chromedp.Click(chromedp.CSS("#lock")), chromedp.WaitVisible(chromedp.CSS("#pin")))
	unlockInBrowser(t, b, p.url[:strings.Index(p.url, "/start")]+"/visits/"+visitID)

	// Killed mid-typing: what she typed seconds before survives.
	const ending, lost = "Ida vinker farvel ved døren", " og græder lidt"
	step(t, b, chromedp.Navigate(p.url[:strings.Index(p.url, "/start")]+"/visits/"+visitID), chromedp.WaitVisible(chromedp.CSS("#text-ending")),
		chromedp.SendKeys(chromedp.CSS("#text-ending"), ending), chromedp.Sleep(2500*time.Millisecond), chromedp.SendKeys(chromedp.CSS("#text-ending"), lost))
	p.kill()
	p = startAppProcess(t, bin, cli.home, logs)
	unlockInBrowser(t, b, p.url)
	step(t, b, chromedp.Navigate(p.url[:strings.Index(p.url, "/start")]+"/visits/"+visitID), chromedp.WaitVisible(chromedp.CSS("#text-ending")))
	got, err := chromedp.Run(b, chromedp.Value(chromedp.CSS("#text-ending")))
	mustDo(t, err)
	if !strings.HasPrefix(got, ending) {
		t.Fatalf("after the kill the section holds %q, want what was typed before: %q", got, ending)
	}
	if n := timelineLen(t, b); n != 3 {
		t.Fatalf("%d observations after the kill, want 3", n)
	}

	// Her other tablet wrote the opening too, offline. The server comes back: both sync on their
	// own (the app without a tap), and the overlap shows inline on the app.
	mustDo(t, second.SetReportSection(ctx, visitID, "opening", "Mor kommer ti minutter for sent."))
	s.start(s.addr)
	st = s.Store()
	_, err = second.Sync(ctx)
	mustDo(t, err)
	waitFor(t, b, "the app synced on its own", `document.querySelector("#online") && document.querySelector("#online").textContent === "Online" && document.querySelector("#pending").textContent === "Alt er sendt" && !!document.querySelector("#conflicts")`, 30*time.Second)
	step(t, b, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#section-opening .conflict")), viewShot(t, "app-conflict", "#section-opening"))
	sides := text(t, b, "#section-opening .conflict")
	if !strings.Contains(sides, "Mor kommer ti minutter for sent.") || !strings.Contains(sides, opening) {
		t.Fatalf("the conflict does not show both versions: %q", sides)
	}
	const final = "Mor kommer lidt for sent; Ida er genert et øjeblik."
	step(t, b, chromedp.SetValue(chromedp.CSS("#section-opening .conflict textarea"), final), chromedp.Click(chromedp.CSS(`#section-opening .conflict button[value="write"]`)))
	waitFor(t, b, "the final text in place of the conflict", `!document.querySelector("#section-opening .conflict") && (document.querySelector("#text-opening") || {}).value === `+strconv.Quote(final), 10*time.Second)

	// Submit, with the confirmation that shows what is locked.
	step(t, b, chromedp.Click(chromedp.CSS("#review")), chromedp.WaitVisible(chromedp.CSS("#confirm-submit")), viewShot(t, "app-submit", ""))
	if lock := text(t, b, "#tolock"); !strings.Contains(lock, final) || !strings.Contains(lock, interaction) {
		t.Fatalf("the confirmation does not show what is locked: %q", lock)
	}
	step(t, b, chromedp.Click(chromedp.CSS("#confirm-submit")), chromedp.WaitVisible(chromedp.CSS("#addenda")))
	waitFor(t, b, "the submission synced", `document.querySelector("#pending").textContent === "Alt er sendt"`, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		reps, err := st.Reports(ctx, nil, caseID, "")
		mustDo(t, err)
		if len(reps) == 1 && reps[0].State == syncer.StateSubmitted && len(reps[0].Recipients) == 1 && reps[0].Recipients[0] == userID(t, s, "sara") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the caseworker has not received the report: %+v", reps)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sara := server.Identity{UserID: userID(t, s, "sara"), Roles: []string{"caseworker"}}
	reps, err := st.ListReports(ctx, sara, caseID, "new", "checking the test")
	mustDo(t, err)
	if len(reps) != 1 {
		t.Fatalf("Sara's inbox: %+v", reps)
	}
	rep, err := st.GetReport(ctx, sara, reps[0].ID, "checking the test")
	mustDo(t, err)
	sections := map[string]string{}
	for _, sec := range rep.Sections {
		sections[sec.Key] = sec.Text
	}
	if sections["opening"] != final || !strings.HasPrefix(sections["interaction"], interaction) || !strings.HasPrefix(sections["ending"], ending) || len(rep.Observations) != 3 {
		t.Fatalf("the delivered report: %+v, %d observations", sections, len(rep.Observations))
	}
	for _, secret := range append(observations, opening, interaction, ending, final, "Mor hæver stemmen") {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the app's log holds what she wrote (%q)", secret)
		}
	}
}

// In Chromium, offline: she types an observation and leaves the tablet without saving it. The
// app locks itself on idle and the page shows the PIN; after the PIN the observation field
// holds what she typed. She types on, the app is killed mid-sentence (SIGKILL) and started
// again: what she typed a few seconds before is there. Saving it empties the field, and a
// reload does not bring it back. None of it is in the app's log.
func TestBrowserAnObservationSheTypedSurvivesTheIdleLockAndAKill(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "kim")
	bin := buildSamvaer(t)
	cli := cliTablet{t: t, bin: bin, home: filepath.Join(t.TempDir(), "kim")}
	code, _, err := w.srv.Store().NewEnrollmentCode(ctx, "kim")
	mustDo(t, err)
	cli.must("enroll", "--server", w.srv.URL(), "--code", code, "--name", "iPad 4")
	cli.must("sync")
	w.srv.shutdown()

	logs := &syncBuffer{}
	p := startAppProcessArgs(t, bin, cli.home, logs, "--idle-lock", "4s")
	base := p.url[:strings.Index(p.url, "/start")]
	b := newBrowser(t)
	step(t, b, chromedp.EmulateViewport(1024, 768))
	unlockInBrowser(t, b, p.url)
	const typed, more, lost = "DRAFTB Emil viser mor sin tegning", " og hun roser ham", " meget"
	step(t, b, chromedp.Navigate(base+"/visits/"+w.visitID), chromedp.WaitVisible(chromedp.CSS("#obs-text")),
		chromedp.SendKeys(chromedp.CSS("#obs-text"), typed))
	// Nobody touches the tablet: it locks within the idle time and a poll of the sync bar.
	step(t, b, chromedp.WaitVisible(chromedp.CSS("#pin")))
	if page := text(t, b, "body"); strings.Contains(page, "DRAFTB") {
		t.Fatalf("the locked page shows the draft: %q", page)
	}
	step(t, b, chromedp.SendKeys(chromedp.CSS("#pin"), "4711"), chromedp.Submit(chromedp.CSS("#unlock")), chromedp.WaitVisible(chromedp.CSS("#obs-text")))
	if got, _ := chromedp.Run(b, chromedp.Value(chromedp.CSS("#obs-text"))); got != typed {
		t.Fatalf("after the PIN the observation field holds %q, want %q", got, typed)
	}

	// She goes on where she stopped (the caret at the end of her text).
	step(t, b, chromedp.Evaluate[chromedp.Void](`(() => { const e = document.querySelector("#obs-text"); e.focus(); e.setSelectionRange(e.value.length, e.value.length); })()`),
		chromedp.SendKeys(chromedp.CSS("#obs-text"), more), chromedp.Sleep(2500*time.Millisecond), chromedp.SendKeys(chromedp.CSS("#obs-text"), lost))
	p.kill()
	p = startAppProcessArgs(t, bin, cli.home, logs, "--idle-lock", "4s")
	base = p.url[:strings.Index(p.url, "/start")]
	unlockInBrowser(t, b, p.url)
	step(t, b, chromedp.Navigate(base+"/visits/"+w.visitID), chromedp.WaitVisible(chromedp.CSS("#obs-text")))
	got, err := chromedp.Run(b, chromedp.Value(chromedp.CSS("#obs-text")))
	mustDo(t, err)
	if !strings.HasPrefix(got, typed+more) {
		t.Fatalf("after the kill the observation field holds %q, want what was typed before: %q", got, typed+more)
	}
	step(t, b, chromedp.Click(chromedp.CSS("#obs-save")), chromedp.WaitVisible(chromedp.Search(`//ol[@id="timeline"]//span[contains(., "DRAFTB Emil")]`)))
	step(t, b, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#obs-text")))
	if got, _ := chromedp.Run(b, chromedp.Value(chromedp.CSS("#obs-text"))); got != "" || timelineLen(t, b) != 1 {
		t.Fatalf("after saving, the field holds %q and the timeline %d observations, want empty and 1", got, timelineLen(t, b))
	}
	if strings.Contains(logs.String(), "DRAFTB") {
		t.Fatal("the app's log holds what she typed")
	}
}
