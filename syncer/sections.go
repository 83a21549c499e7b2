package syncer

// ReportSectionTitles are the headings of the report's sections (samværsbeskrivelse), by key, as
// DOMAIN.md "What a report holds" names them. Exports and pages show them in ReportSections order.
var ReportSectionTitles = map[string]string{
	"context":           "Context: case, decision, visit type and the purpose of supervision",
	"attendance":        "Attendance: date, times, place and room, who was present",
	"before_contact":    "Contact before the visit",
	"opening":           "Opening: greeting, the child's reaction, the mood",
	"interaction":       "Interaction: contact, initiative, activities, signals and limits",
	"ending":            "Ending: the goodbye and the child's reaction",
	"conditions":        "Conditions kept or broken; incidents and interventions",
	"child_perspective": "The child's perspective, in the child's own words",
	"placement_account": "The placement's account of the child's reactions",
	"assessment":        "The consultant's professional assessment",
	"follow_up":         "Follow-up and agreements for next time",
}
