package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// parseWithArg parses flags around one positional argument (the id a command acts on), which may
// come before or after the flags.
func parseWithArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
	}
	if arg == "" {
		return "", usageError("Name the %s.", what)
	}
	return arg, nil
}

func (c *AdminCommand) deviceRevoke(ctx context.Context, args []string) error {
	fs := subFlags("device revoke", c)
	lost := fs.Bool("lost", false, "the device is lost or stolen: refuse everything, wipe at its next contact")
	retire := fs.Bool("retire", false, "the device is taken out of use: accept its final push, then wipe")
	id, err := parseWithArg(fs, args, "device to revoke")
	if err != nil {
		return err
	}
	if *lost == *retire {
		return usageError("Say --lost or --retire.")
	}
	status := server.DeviceLost
	if *retire {
		status = server.DeviceRetired
	}
	d, err := c.store.RevokeDevice(ctx, server.Actor{}, id, status)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("Device %s (%s) revoked as lost: its next request is refused and it deletes its data.\n", d.ID, d.UserName)
	if status == server.DeviceRetired {
		text = fmt.Sprintf("Device %s (%s) retired: at its next sync it sends its pending changes, then deletes its data.\n", d.ID, d.UserName)
	}
	return output(c.Stdout, c.json, d, text)
}

func (c *AdminCommand) userPassword(ctx context.Context, name string) error {
	sc := bufio.NewScanner(c.Stdin)
	sc.Buffer(make([]byte, 4096), 4096)
	if !sc.Scan() {
		return usageError("Type the new password on standard input, followed by a newline.")
	}
	if err := c.store.SetPassword(ctx, server.Actor{}, name, strings.TrimRight(sc.Text(), "\r")); err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"password_set": name}, "Password set.\n")
}

func (c *AdminCommand) caseAssign(ctx context.Context, args []string) error {
	fs := subFlags("case assign", c)
	user := fs.String("user", "", "the user's name")
	role := fs.String("role", "", "consultant, caseworker or coordinator")
	caseID, err := parseWithArg(fs, args, "case")
	if err != nil {
		return err
	}
	if err := c.store.AssignCase(ctx, server.Actor{}, caseID, *user, *role); err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"case": caseID, "user": *user, "role": *role},
		fmt.Sprintf("%s is assigned to the case as %s; their tablets get it at their next sync.\n", *user, *role))
}

func (c *AdminCommand) caseUnassign(ctx context.Context, args []string) error {
	fs := subFlags("case unassign", c)
	user := fs.String("user", "", "the user's name")
	caseID, err := parseWithArg(fs, args, "case")
	if err != nil {
		return err
	}
	if err := c.store.UnassignCase(ctx, server.Actor{}, caseID, *user); err != nil {
		return err
	}
	return output(c.Stdout, c.json, map[string]string{"case": caseID, "user": *user},
		fmt.Sprintf("%s is no longer assigned to the case; their tablets delete it at their next sync.\n", *user))
}

func (c *AdminCommand) auditVerify(ctx context.Context) error {
	v, err := c.store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if len(v.Problems) > 0 {
		if c.json {
			if err := output(c.Stdout, true, v, ""); err != nil {
				return err
			}
		}
		return syncer.Errorf(syncer.CodeFailedPrecondition, "The audit log fails verification: %s.", strings.Join(v.Problems, "; "))
	}
	return output(c.Stdout, c.json, v, fmt.Sprintf("The audit log is intact: %d entries; the newest is %d with hash %s.\n", v.Entries, v.HeadID, v.HeadHash))
}

// parseTime reads a time given as RFC 3339 or as a date (midnight, local time).
func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, usageError("--%s must be a date like 2026-11-28 or a time like 2026-11-28T10:00:00+01:00.", flagName)
}

func (c *AdminCommand) auditList(ctx context.Context, args []string) error {
	fs := subFlags("audit list", c)
	since := fs.String("since", "", "entries from this time (RFC 3339 or a date)")
	until := fs.String("until", "", "entries before this time")
	user := fs.String("user", "", "entries whose actor is this user (name or id)")
	device := fs.String("device", "", "entries about this device")
	caseID := fs.String("case", "", "entries about this case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f := server.AuditFilter{DeviceID: *device, CaseID: *caseID}
	var err error
	if f.Since, err = parseTime("since", *since); err != nil {
		return err
	}
	if f.Until, err = parseTime("until", *until); err != nil {
		return err
	}
	if *user != "" {
		u, err := c.store.UserByName(ctx, *user)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	entries, err := c.store.SearchAudit(ctx, server.Actor{}, f, "")
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tKIND\tACTOR\tDEVICE\tCASE\tPURPOSE\tDETAIL")
	for _, e := range entries {
		detail := ""
		if len(e.Detail) > 0 {
			d, _ := json.Marshal(e.Detail)
			detail = string(d)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, time.UnixMilli(e.AtMs).Local().Format(time.DateTime), e.Kind,
			dash(e.ActorUserID), dash(e.DeviceID), dash(e.CaseID), dash(e.Purpose), detail)
	}
	tw.Flush()
	if entries == nil {
		entries = []server.AuditEntry{}
	}
	return output(c.Stdout, c.json, entries, b.String())
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
