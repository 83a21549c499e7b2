package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samvaer/sync/server"
)

// AdminCommand manages a server's data directory directly. It works whether or not the server is
// running on it (SQLite allows one writer at a time and both wait their turn).
type AdminCommand struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	store *server.Store
	json  bool
}

const adminUsage = `Usage: samvaer admin --data DIR [--json] COMMAND

Commands:
  user add --name NAME --role ROLE [--role ROLE …]   roles: consultant, caseworker, coordinator, admin
  user list
  user disable NAME | user enable NAME   refuse (or allow again) every device of the user at once
  user password NAME               set the user's password, read from standard input
  case add --child NAME [--child NAME …] --parent NAME [--parent NAME …] --caseworker USER [--reference REF]
           [--relative NAME …] [--placement TEXT] [--coordinator USER]
  case list
  case decision --case ID --kind supervised|supported [--consent-parents] [--young-person]
           [--consent-young-person] [--from RFC3339] [--to RFC3339] [--purpose TEXT]
  case conditions --case ID --text TEXT          a new version of the conditions and agreements
  case goal --case ID --text TEXT                a goal of the parent action plan
  case wish --case ID --child ID --text TEXT [--support-person] [--pause-until RFC3339]
  case assign CASE --user NAME --role consultant|caseworker|coordinator
  case unassign CASE --user NAME   the user's tablets delete the case at their next sync
  case close CASE                  every tablet deletes the case at its next sync
  visit add --case ID --consultant USER --kind supervised|supported --start RFC3339 --end RFC3339
           [--place TEXT] [--room ROOM] [--decision ID]
  visit reschedule VISIT --start RFC3339 --end RFC3339 [--room ROOM]
  visit cancel VISIT
  checklist show                   the checklist template new visits start with
  checklist set FILE               a new template version from JSON [{"phase","key","label"}] ("-": stdin)
  report list [--case ID] [--filter new|overdue|acknowledged]
                                   reports with their visit, state and recipients (no text)
  audit export --child ID          the access log entries about a child: dates, kinds of use, purposes
  device enroll --user NAME        print a one-time enrollment code (valid 15 minutes)
  device list
  device revoke ID --lost|--retire lost: refused at once and told to wipe; retire: final push, then wipe
  keys rotate-signing              a new token signing key; tokens signed before stay valid until they expire
  audit verify                     check the audit log's hash chain
  audit list [--since T] [--until T] [--user NAME] [--device ID] [--case ID]
  digest CASE [--role R | --user NAME]
                                   the digest of what a device of role R (default consultant) or
                                   of user NAME should hold of the case: equal to the tablet's
                                   digest once it synced
  backup FILE                      a consistent copy of the database, while the server runs
  keys list                        the key-encryption keys and how many stored values each seals
  keys rotate                      make a new primary key-encryption key; older ones keep opening
  keys rewrap                      re-wrap every stored value under the primary key (content untouched)
  keys retire KID                  drop a key no stored value uses any more (after rewrap)

What a person wrote is stored sealed under key-encryption keys from the environment variable
SAMVAER_KEK (base64, comma-separated, first is primary) or else the key file kek.json in the
data directory (made on first start). Keep a copy of the keys apart from the database backups.
`

// Run parses the global flags and runs one admin command.
func (c *AdminCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, adminUsage) }
	data := fs.String("data", server.DefaultConfig().DataDir, "the server's data directory")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	store, err := server.OpenStore(*data, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	c.store = store

	cmd := strings.Join(rest[:min(2, len(rest))], " ")
	switch {
	case cmd == "user add":
		return c.userAdd(ctx, rest[2:])
	case cmd == "user list":
		return c.userList(ctx)
	case cmd == "case add":
		return c.caseAdd(ctx, rest[2:])
	case cmd == "case list":
		return c.caseList(ctx)
	case cmd == "visit add":
		return c.visitAdd(ctx, rest[2:])
	case cmd == "case decision", cmd == "case conditions", cmd == "case goal", cmd == "case wish":
		return c.caseEdit(ctx, rest[1], rest[2:])
	case cmd == "visit reschedule" && len(rest) >= 3:
		return c.visitReschedule(ctx, rest[2], rest[3:])
	case cmd == "checklist show":
		return c.checklistShow(ctx)
	case cmd == "checklist set" && len(rest) == 3:
		return c.checklistSet(ctx, rest[2])
	case cmd == "report list":
		return c.reportList(ctx, rest[2:])
	case cmd == "audit export":
		return c.auditExport(ctx, rest[2:])
	case cmd == "visit cancel" && len(rest) == 3:
		if err := c.store.CancelVisit(ctx, rest[2]); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"cancelled": rest[2]}, "Visit cancelled.\n")
	case cmd == "device enroll":
		return c.deviceEnroll(ctx, rest[2:])
	case cmd == "device list":
		return c.deviceList(ctx)
	case cmd == "device revoke":
		return c.deviceRevoke(ctx, rest[2:])
	case (cmd == "user disable" || cmd == "user enable") && len(rest) == 3:
		u, err := c.store.SetUserDisabled(ctx, server.Actor{}, rest[2], cmd == "user disable")
		if err != nil {
			return err
		}
		text := fmt.Sprintf("%s is enabled.\n", u.Name)
		if u.Disabled {
			text = fmt.Sprintf("%s is disabled: every device of theirs is refused from its next request.\n", u.Name)
		}
		return output(c.Stdout, c.json, u, text)
	case cmd == "user password" && len(rest) == 3:
		return c.userPassword(ctx, rest[2])
	case cmd == "case assign":
		return c.caseAssign(ctx, rest[2:])
	case cmd == "case unassign":
		return c.caseUnassign(ctx, rest[2:])
	case cmd == "case close" && len(rest) == 3:
		if err := c.store.CloseCase(ctx, server.Actor{}, rest[2]); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"closed": rest[2]}, "Case closed; every tablet deletes it at its next sync.\n")
	case cmd == "keys rotate-signing" && len(rest) == 2:
		kid, err := c.store.RotateSigningKey(ctx)
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"kid": kid},
			"New signing key "+kid+"; tokens signed with older keys stay valid until they expire.\n")
	case cmd == "audit verify" && len(rest) == 2:
		return c.auditVerify(ctx)
	case cmd == "audit list":
		return c.auditList(ctx, rest[2:])
	case rest[0] == "digest" && len(rest) >= 2:
		return c.digest(ctx, rest[1], rest[2:])
	case cmd == "keys list":
		return c.keysList(ctx)
	case cmd == "keys rotate":
		kid, err := c.store.RotateKEK(ctx)
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"primary": kid},
			fmt.Sprintf("New primary key-encryption key %s. A running server uses it from its next write. Run 'keys rewrap', then 'keys retire' the old key.\n", kid))
	case cmd == "keys rewrap":
		n, err := c.store.RewrapKEK(ctx)
		if err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]int{"rewrapped": n}, fmt.Sprintf("%d stored values re-wrapped under the primary key.\n", n))
	case cmd == "keys retire" && len(rest) == 3:
		if err := c.store.RetireKEK(ctx, rest[2]); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"retired": rest[2]}, "Key "+rest[2]+" retired.\n")
	case rest[0] == "backup" && len(rest) == 2:
		if err := c.store.Backup(ctx, rest[1]); err != nil {
			return err
		}
		return output(c.Stdout, c.json, map[string]string{"backup": rest[1]}, "Backup written to "+rest[1]+"\n")
	}
	fs.Usage()
	return usageError("Unknown admin command %q.", strings.Join(rest, " "))
}

func (c *AdminCommand) keysList(ctx context.Context) error {
	keys, err := c.store.KEKs(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tPRIMARY\tSOURCE\tVALUES")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d\n", k.ID, k.Primary, k.Source, k.InUse)
	}
	tw.Flush()
	return output(c.Stdout, c.json, keys, b.String())
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// subFlags is a subcommand's flag set; --json is accepted after the subcommand too.
func subFlags(name string, c *AdminCommand) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.BoolVar(&c.json, "json", c.json, "print JSON")
	return fs
}

func (c *AdminCommand) userAdd(ctx context.Context, args []string) error {
	fs := subFlags("user add", c)
	name := fs.String("name", "", "the user's name (unique)")
	var roles stringList
	fs.Var(&roles, "role", "a role (repeat for several)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := c.store.AddUser(ctx, *name, roles)
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, u, fmt.Sprintf("User %s added (%s), id %s\n", u.Name, strings.Join(u.Roles, ", "), u.ID))
}

func (c *AdminCommand) userList(ctx context.Context) error {
	users, err := c.store.Users(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLES\tDISABLED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", u.ID, u.Name, strings.Join(u.Roles, ","), u.Disabled)
	}
	tw.Flush()
	return output(c.Stdout, c.json, users, b.String())
}

func (c *AdminCommand) caseAdd(ctx context.Context, args []string) error {
	fs := subFlags("case add", c)
	var children, parents, relatives stringList
	fs.Var(&children, "child", "a child's name (repeat for siblings)")
	fs.Var(&parents, "parent", "a parent's name (repeat for several)")
	fs.Var(&relatives, "relative", "a relative's name (repeat for several)")
	caseworker := fs.String("caseworker", "", "the caseworker's user name")
	reference := fs.String("reference", "", "the municipality's case reference")
	placement := fs.String("placement", "", "where the child lives (foster family, institution)")
	coordinator := fs.String("coordinator", "", "the coordinator who plans the case's visits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := c.store.AddCase(ctx, server.NewCase{Children: children, Parents: parents, Relatives: relatives,
		Caseworker: *caseworker, Reference: *reference, Placement: *placement, Coordinator: *coordinator})
	if err != nil {
		return err
	}
	kids, err := c.store.ChildIDs(ctx, id)
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]any{"id": id, "child_ids": kids},
		fmt.Sprintf("Case added, id %s\nChildren: %s\n", id, strings.Join(kids, ", ")))
}

func (c *AdminCommand) caseList(ctx context.Context) error {
	cases, err := c.store.Cases(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREFERENCE\tVISITS")
	for _, cs := range cases {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", cs.ID, cs.Reference, cs.Visits)
	}
	tw.Flush()
	return output(c.Stdout, c.json, cases, b.String())
}

func (c *AdminCommand) visitAdd(ctx context.Context, args []string) error {
	fs := subFlags("visit add", c)
	caseID := fs.String("case", "", "the case id")
	consultant := fs.String("consultant", "", "the consultant's user name")
	kind := fs.String("kind", "", "supervised (overvåget, § 105) or supported (støttet, § 104)")
	start := fs.String("start", "", "planned start, RFC 3339 (2026-11-28T10:00:00+01:00)")
	end := fs.String("end", "", "planned end, RFC 3339")
	place := fs.String("place", "", "the place (address or building)")
	room := fs.String("room", "", "the visit room; two visits cannot hold one room at the same time")
	decision := fs.String("decision", "", "the decision the visit rests on (default: the case's newest of its kind)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, en, err := visitTimes(*start, *end)
	if err != nil {
		return err
	}
	id, err := c.store.AddVisit(ctx, server.NewVisit{CaseID: *caseID, Consultant: *consultant, Kind: *kind, Start: st, End: en, Place: *place,
		Room: *room, DecisionID: *decision})
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"id": id}, "Visit added, id "+id+"\n")
}

func (c *AdminCommand) deviceEnroll(ctx context.Context, args []string) error {
	fs := subFlags("device enroll", c)
	user := fs.String("user", "", "the user the tablet is for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	code, expires, err := c.store.NewEnrollmentCode(ctx, *user)
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]any{"code": code, "expires": expires.UTC().Format(time.RFC3339)},
		fmt.Sprintf("Enrollment code: %s (single use, valid until %s)\n", code, expires.Local().Format("15:04")))
}

func (c *AdminCommand) deviceList(ctx context.Context) error {
	devices, err := c.store.Devices(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUSER\tSTATUS\tLAST SEEN")
	for _, d := range devices {
		seen := "never"
		if d.LastSeenMs > 0 {
			seen = time.UnixMilli(d.LastSeenMs).Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.UserName, d.Status, seen)
	}
	tw.Flush()
	return output(c.Stdout, c.json, devices, b.String())
}

// visitTimes parses a visit's --start and --end.
func visitTimes(start, end string) (time.Time, time.Time, error) {
	st, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return time.Time{}, time.Time{}, usageError("--start must be a time like 2026-11-28T10:00:00+01:00.")
	}
	en, err := time.Parse(time.RFC3339, end)
	if err != nil {
		return time.Time{}, time.Time{}, usageError("--end must be a time like 2026-11-28T12:00:00+01:00.")
	}
	return st, en, nil
}

// digest prints the digest of what a holder's device should hold of a case.
func (c *AdminCommand) digest(ctx context.Context, caseID string, args []string) error {
	fs := subFlags("digest", c)
	role := fs.String("role", "consultant", "consultant, caseworker or coordinator")
	user := fs.String("user", "", "a user (by name): what their devices should hold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := server.Holder{Role: *role, User: *user}
	if *user != "" {
		h.Role = ""
	}
	d, err := c.store.CaseDigestFor(ctx, caseID, h)
	if err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"case": caseID, "digest": d}, d+"\n")
}
