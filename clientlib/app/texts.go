package app

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Copenhagen on a tablet that has no zone database (Android, iOS)
)

// Every word the app shows, in Danish (the default) and English, in one place so the shared
// Danish formatting package can take them over. Keys are the English meaning in short.

// Lang is a page language.
type Lang string

// The languages of the pages.
const (
	Danish  Lang = "da"
	English Lang = "en"
)

var texts = map[string][2]string{ // key → {Danish, English}
	"app.title":                        {"Samvær", "Visits"},
	"nav.visits":                       {"Mine samvær", "My visits"},
	"nav.lock":                         {"Lås", "Lock"},
	"nav.lang":                         {"English", "Dansk"},
	"unlock.title":                     {"Lås tabletten op", "Unlock the tablet"},
	"unlock.pin":                       {"PIN-kode", "PIN"},
	"unlock.button":                    {"Lås op", "Unlock"},
	"unlock.locked":                    {"Tabletten er låst. Skriv din PIN-kode.", "The tablet is locked. Enter your PIN."},
	"unlock.idle":                      {"Tabletten låste sig selv, fordi den ikke blev brugt i et stykke tid.", "The tablet locked itself because it was not used for a while."},
	"start.spent":                      {"Adressen er brugt eller ugyldig. Åbn appen med den nye adresse, den viser.", "This address was used already or is not valid. Open the app with the new address it shows."},
	"start.needed":                     {"Åbn appen med den adresse, den viste ved start.", "Open the app with the address it showed when it started."},
	"visits.today":                     {"I dag", "Today"},
	"visits.upcoming":                  {"Kommende", "Upcoming"},
	"visits.earlier":                   {"Tidligere samvær uden indsendt samværsbeskrivelse", "Earlier visits without a submitted report"},
	"visits.none":                      {"Ingen samvær på tabletten. Synkronisér, når der er forbindelse.", "No visits on the tablet. Sync when there is a connection."},
	"visits.open":                      {"Åbn samværet", "Open the visit"},
	"kind.supervised":                  {"Overvåget samvær (§ 105)", "Supervised visit (§ 105)"},
	"kind.supported":                   {"Støttet samvær (§ 104)", "Supported visit (§ 104)"},
	"state.draft":                      {"Udkast", "Draft"},
	"state.submitted":                  {"Indsendt – låst", "Submitted – locked"},
	"state.acknowledged":               {"Modtaget af socialrådgiveren", "Acknowledged by the caseworker"},
	"state.overdue":                    {"Forsinket: skulle være indsendt inden 72 timer", "Overdue: due within 72 hours"},
	"visit.place":                      {"Sted", "Place"},
	"visit.room":                       {"Lokale", "Room"},
	"visit.planned":                    {"Planlagt", "Planned"},
	"visit.children":                   {"Børn", "Children"},
	"visit.start":                      {"Start samværet", "Start the visit"},
	"visit.end":                        {"Afslut samværet", "End the visit"},
	"visit.started":                    {"Startet", "Started"},
	"visit.ended":                      {"Afsluttet", "Ended"},
	"visit.notstarted":                 {"Ikke startet", "Not started"},
	"case.title":                       {"Sagen", "The case"},
	"case.reference":                   {"Sag", "Case"},
	"case.decision":                    {"Afgørelse", "Decision"},
	"case.purpose":                     {"Formål", "Purpose"},
	"case.period":                      {"Periode", "Period"},
	"case.consent":                     {"Samtykke til skriftlige samværsbeskrivelser", "Consent to written descriptions"},
	"case.conditions":                  {"Vilkår og aftaler", "Conditions and agreements"},
	"case.goals":                       {"Forældrehandleplanens mål", "The parent action plan's goals"},
	"case.wishes":                      {"Barnets ønsker", "The child's wishes"},
	"case.support":                     {"ønsker en støtteperson med", "wants a support person there"},
	"case.pause":                       {"ønsker pause til", "wants a pause until"},
	"case.none":                        {"Intet registreret.", "Nothing recorded."},
	"yes":                              {"Ja", "Yes"},
	"no":                               {"Nej", "No"},
	"consent.missing":                  {"Støttet samvær uden samtykke til skriftlige samværsbeskrivelser: der kan ikke indsendes en samværsbeskrivelse for dette samvær. Det, du skriver, forbliver dine interne notater.", "A supported visit without consent to written descriptions: no report can be submitted for this visit. What you write stays your internal notes."},
	"present.title":                    {"Til stede", "Present"},
	"present.hint":                     {"Én person pr. linje med rolle, fx »Mette – mor«.", "One person per line with their role, e.g. “Mette – mother”."},
	"save":                             {"Gem", "Save"},
	"saved":                            {"Gemt", "Saved"},
	"saving":                           {"Gemmer …", "Saving …"},
	"obs.title":                        {"Observation", "Observation"},
	"obs.save":                         {"Gem observation", "Save observation"},
	"obs.timeline":                     {"Tidslinje", "Timeline"},
	"obs.none":                         {"Ingen observationer endnu.", "No observations yet."},
	"obs.pull":                         {"Indsæt i afsnit", "Put into section"},
	"obs.marks":                        {"Hurtige markeringer", "Quick marks"},
	"mark.incident":                    {"Hændelse", "Incident"},
	"mark.intervened":                  {"Trådte til", "Stepped in"},
	"mark.stopped":                     {"Afbrød samværet", "Stopped the visit"},
	"checklist.title":                  {"Tjekliste", "Checklist"},
	"phase.before":                     {"Før samværet", "Before the visit"},
	"phase.during":                     {"Under samværet", "During the visit"},
	"phase.after":                      {"Efter samværet", "After the visit"},
	"report.title":                     {"Samværsbeskrivelse", "Report"},
	"report.separate":                  {"Holdes adskilt fra observationerne", "Kept separate from the observations"},
	"report.locked":                    {"Samværsbeskrivelsen er indsendt og låst. Rettelser skrives som tilføjelser.", "The report is submitted and locked. Corrections are written as addenda."},
	"report.submit":                    {"Indsend", "Submit"},
	"report.review":                    {"Gennemse og indsend", "Review and submit"},
	"submit.title":                     {"Indsend samværsbeskrivelsen", "Submit the report"},
	"submit.what":                      {"Når du indsender, låses samværsbeskrivelsen med disse afsnit. Bagefter kan du kun skrive tilføjelser.", "When you submit, the report is locked with these sections. Afterwards you can only write addenda."},
	"submit.empty":                     {"(tomt)", "(empty)"},
	"submit.confirm":                   {"Ja, indsend og lås", "Yes, submit and lock"},
	"submit.cancel":                    {"Tilbage", "Back"},
	"submit.done":                      {"Samværsbeskrivelsen er indsendt og låst. Den sendes til socialrådgiveren ved næste synkronisering.", "The report is submitted and locked. It goes to the caseworker at the next sync."},
	"addenda.title":                    {"Tilføjelser (rettelser efter indsendelse)", "Addenda (corrections after submission)"},
	"addendum.write":                   {"Skriv en tilføjelse", "Write an addendum"},
	"addendum.sign":                    {"Underskriv", "Sign"},
	"addendum.draft":                   {"Udkast fra en ændring efter indsendelse", "Draft from an edit after submission"},
	"conflict.title":                   {"Uoverensstemmelse (to versioner)", "Conflict (two versions)"},
	"conflict.current":                 {"Denne version", "This version"},
	"conflict.other":                   {"Den anden version (fra en anden tablet)", "The other version (from another tablet)"},
	"conflict.keep":                    {"Behold denne", "Keep this one"},
	"conflict.take":                    {"Tag den anden", "Take the other"},
	"conflict.write":                   {"Skriv den endelige tekst", "Write the final text"},
	"conflict.resolved":                {"Uoverensstemmelsen er løst.", "The conflict is resolved."},
	"sync.online":                      {"Online", "Online"},
	"sync.offline":                     {"Offline", "Offline"},
	"sync.pending":                     {"ikke sendte ændringer", "pending changes"},
	"sync.none":                        {"Alt er sendt", "Everything is sent"},
	"sync.last":                        {"Sidst synkroniseret", "Last sync"},
	"sync.never":                       {"Aldrig synkroniseret", "Never synced"},
	"sync.button":                      {"Synkronisér", "Sync"},
	"sync.rejected":                    {"afviste ændringer", "rejected changes"},
	"sync.conflicts":                   {"uoverensstemmelser", "conflicts"},
	"sync.lockwarn":                    {"Tabletten låser sig selv %s, hvis den ikke synkroniserer inden da.", "The tablet locks itself %s unless it syncs before then."},
	"sync.done":                        {"Synkroniseret.", "Synced."},
	"rejected.title":                   {"Afviste ændringer", "Rejected changes"},
	"rejected.none":                    {"Serveren har ikke afvist noget.", "The server has refused nothing."},
	"rejected.reason":                  {"Begrundelse", "Reason"},
	"err.invalid":                      {"Det kunne ikke gemmes: indholdet er ikke gyldigt (for eksempel for langt).", "It could not be saved: the content is not valid (too long, for example)."},
	"err.notfound":                     {"Det findes ikke på denne tablet. Synkronisér, hvis det er nyt.", "It is not on this tablet. Sync if it is new."},
	"err.locked":                       {"Samværsbeskrivelsen er indsendt og låst; skriv en tilføjelse i stedet.", "The report is submitted and locked; write an addendum instead."},
	"err.offline":                      {"Serveren kan ikke nås. Dine ændringer er gemt på tabletten og sendes ved næste synkronisering.", "The server cannot be reached. Your changes are kept on the tablet and sent at the next sync."},
	"err.wrongpin":                     {"Forkert PIN-kode. Efter for mange forkerte forsøg i træk gøres tablettens data ulæselige.", "Wrong PIN. After too many wrong PINs in a row the tablet's data is made unreadable."},
	"err.pinmissing":                   {"Skriv din PIN-kode.", "Enter your PIN."},
	"err.destroyed":                    {"Tablettens data kan ikke længere læses (for mange forkerte PIN-koder, eller nøglen mangler). Tabletten skal tilmeldes igen med en ny kode fra en administrator.", "The tablet's data can no longer be read (too many wrong PINs, or its key is missing). Enroll the tablet again with a new code from an admin."},
	"err.wiped":                        {"En administrator har spærret tabletten, og dens data er slettet. Den skal tilmeldes igen.", "An admin revoked this tablet and its data has been deleted. It must be enrolled again."},
	"err.denied":                       {"Det har du ikke adgang til.", "You may not do that."},
	"err.csrf":                         {"Formularen var forældet. Prøv igen fra siden.", "The form was out of date. Try again from the page."},
	"err.stale":                        {"Det kan ikke lade sig gøre nu. Har tabletten ikke haft forbindelse i over 3 dage, er den låst, til den synkroniserer.", "That cannot be done now. A tablet that has not reached the server for over 3 days is locked until it syncs."},
	"err.internal":                     {"Noget gik galt på tabletten. Prøv igen; det, der allerede er gemt, er ikke tabt.", "Something went wrong on the tablet. Try again; what is saved is not lost."},
	"err.toolarge":                     {"Teksten er for lang til at blive gemt.", "The text is too long to be saved."},
	"err.noreport":                     {"Samværet har endnu ingen samværsbeskrivelse på tabletten; synkronisér først.", "The visit has no report on the tablet yet; sync first."},
	"section.context":                  {"Sagen og afgørelsen", "Case and decision"},
	"section.attendance":               {"Deltagelse og rammer", "Attendance"},
	"section.before_contact":           {"Kontakt før samværet", "Contact before the visit"},
	"section.opening":                  {"Samværets start", "Opening"},
	"section.interaction":              {"Samspil", "Interaction"},
	"section.ending":                   {"Afslutning", "Ending"},
	"section.conditions":               {"Vilkår og hændelser", "Conditions and incidents"},
	"section.child_perspective":        {"Barnets perspektiv", "The child's perspective"},
	"section.placement_account":        {"Anbringelsesstedets beretning", "The placement's account"},
	"section.assessment":               {"Faglig vurdering", "Professional assessment"},
	"section.follow_up":                {"Opfølgning", "Follow-up"},
	"hint.context":                     {"Sag og afgørelse, samværets type og formålet med overvågningen, som afgørelsen angiver det.", "Case and decision reference; visit type; the purpose of supervision as the decision states it."},
	"hint.attendance":                  {"Dato, planlagt og faktisk start og slut, sted og lokale, hvem der bragte barnet, alle til stede og deres rolle.", "Date, planned and actual start and end, place and room, who brought the child, everyone present and their role."},
	"hint.before_contact":              {"Kontakt før samværet (opkald, beskeder), og hvad den handlede om.", "Contact before the visit (calls, messages) and what it was about."},
	"hint.opening":                     {"Hilsenen, barnets reaktion, stemningen, om forælderen havde en plan.", "The greeting, the child's reaction, the mood, whether the parent had a plan."},
	"hint.interaction":                 {"Kontakt, hvem der tager initiativ, aktiviteter, om forælderen aflæser barnets signaler og grænser.", "Contact, who takes the initiative, activities, whether the parent reads the child's signals and limits."},
	"hint.ending":                      {"Farvellet og barnets reaktion.", "The goodbye and the child's reaction."},
	"hint.conditions":                  {"Vilkår overholdt eller brudt; hændelser, indgreb, et samvær afbrudt før tid og hvorfor.", "Conditions kept or broken; incidents, interventions, a visit stopped early and why."},
	"hint.child_perspective":           {"Barnets perspektiv, med barnets egne ord, holdt for sig.", "The child's perspective, in the child's own words, kept separate."},
	"hint.placement_account":           {"Barnets reaktioner før og efter, som anbringelsesstedet beretter dem, med kilde.", "The child's reactions before and after, as the placement reports them, with their source."},
	"hint.assessment":                  {"Din faglige vurdering, holdt adskilt fra observationerne.", "Your professional assessment, kept separate from the observations."},
	"hint.follow_up":                   {"Opfølgning og aftaler til næste gang; om beskrivelsen er gennemgået med forældrene.", "Follow-up and agreements for next time; whether the report was reviewed with the parents."},
	"item.startup_meeting_held":        {"Opstartsmøde holdt: formål, handleplanens mål og opfølgningsdato kendt", "Start-up meeting held: purpose, action-plan goals, follow-up date known"},
	"item.parents_briefed":             {"Forældrene ved, hvem der er med, hvordan samværet slutter, regler og roller", "Parents know who will be there, how the visit ends, the rules and roles"},
	"item.parents_state_checked":       {"På dagen: hvordan forældrene har det, barnets behov i dag, planen", "On the day: how the parents are, the child's needs today, the plan"},
	"item.previous_reactions_reviewed": {"Reaktioner efter tidligere samvær gennemgået", "Reactions after earlier visits reviewed"},
	"item.room_ready":                  {"Lokalet klar: legetøj, mad, aktiviteter som aftalt", "Room ready: toys, food, activities as agreed"},
	"item.conditions_kept":             {"Vilkår og aftaler overholdt", "Conditions and agreements kept"},
	"item.intervened":                  {"Konsulenten trådte til", "Consultant stepped in"},
	"item.stopped_early":               {"Samværet afbrudt før tid", "Visit stopped early"},
	"item.parents_debriefed":           {"Samværet talt igennem med forældrene", "Visit talked over with the parents"},
	"item.child_handed_over":           {"Barnet overdraget til anbringelsesstedet med det, de skal vide", "Child handed over to the placement, with what they need to know"},
	"item.report_written":              {"Samværsbeskrivelse skrevet", "Report written"},
}

// T is the text for key in the language; a key without a text is shown as itself, so a
// missing text is visible in a test rather than blank.
func (l Lang) T(key string) string {
	t, ok := texts[key]
	if !ok {
		return key
	}
	if l == English {
		return t[1]
	}
	return t[0]
}

// Tf formats the text for key with args.
func (l Lang) Tf(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

var (
	daWeekdays = [...]string{"søndag", "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag"}
	daMonths   = [...]string{"januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober", "november", "december"}
)

// copenhagen is where every time on the pages is shown.
var copenhagen = mustZone("Europe/Copenhagen")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is linked in, so this cannot happen
	}
	return loc
}

// Date is a day as a person says it: "tirsdag den 1. december 2026".
func (l Lang) Date(ms int64) string {
	if ms == 0 {
		return ""
	}
	t := time.UnixMilli(ms).In(copenhagen)
	if l == English {
		return t.Format("Monday 2 January 2006")
	}
	return fmt.Sprintf("%s den %d. %s %d", daWeekdays[t.Weekday()], t.Day(), daMonths[t.Month()-1], t.Year())
}

// Clock is a time of day: "14.05" (Danish), "14:05" (English).
func (l Lang) Clock(ms int64) string {
	if ms == 0 {
		return ""
	}
	t := time.UnixMilli(ms).In(copenhagen)
	if l == English {
		return t.Format("15:04")
	}
	return t.Format("15.04")
}

// ClockSeconds is a time of day with seconds, for the timeline.
func (l Lang) ClockSeconds(ms int64) string {
	t := time.UnixMilli(ms).In(copenhagen)
	if l == English {
		return t.Format("15:04:05")
	}
	return t.Format("15.04.05")
}

// When is a day and a time: "i dag kl. 14.05", "tirsdag den 1. december 2026 kl. 14.05".
func (l Lang) When(ms, nowMs int64) string {
	if ms == 0 {
		return ""
	}
	day, today := time.UnixMilli(ms).In(copenhagen), time.UnixMilli(nowMs).In(copenhagen)
	sameDay := func(a, b time.Time) bool { return a.Year() == b.Year() && a.YearDay() == b.YearDay() }
	var d string
	switch {
	case sameDay(day, today):
		d = map[Lang]string{Danish: "i dag", English: "today"}[l]
	case sameDay(day, today.AddDate(0, 0, 1)):
		d = map[Lang]string{Danish: "i morgen", English: "tomorrow"}[l]
	case sameDay(day, today.AddDate(0, 0, -1)):
		d = map[Lang]string{Danish: "i går", English: "yesterday"}[l]
	default:
		d = l.Date(ms)
	}
	if l == English {
		return d + " at " + l.Clock(ms)
	}
	return d + " kl. " + l.Clock(ms)
}
