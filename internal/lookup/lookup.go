// Package lookup finds the one thing a person named on a command line: by its id, by the name
// people use for it (a user's name, a case's reference, a device's name) or by a unique prefix of
// its id. The server's admin commands and the command-line tablet resolve names the same way
// through it. It imports only syncer.
package lookup

import (
	"fmt"
	"strings"

	"github.com/samvaer/sync/syncer"
)

// MinPrefix is the shortest id prefix that is looked up: shorter ones match too much to be meant.
const MinPrefix = 4

// Candidate is one thing that may be meant.
type Candidate struct {
	ID string
	// Names are what people call it, each matched whole and case-insensitively ("" is no name).
	Names []string
	// Label is shown beside the id when a name is ambiguous. It must hold no sensitive text:
	// user and device names and case references, never a child's name.
	Label string
}

// Kind names what is looked up in messages: "user", "case", "visit", "device", "child".
type Kind string

func (k Kind) plural() string {
	if k == "child" {
		return "children"
	}
	return string(k) + "s"
}

// Find returns the id of the one candidate arg names: an exact id first, then a name, then a
// unique id prefix of at least MinPrefix characters. None is CodeNotFound; more than one is
// CodeInvalid, listing the candidates' ids and labels. When secretArg, arg may be sensitive text
// (a child's name) and is not repeated in a message.
func Find(kind Kind, arg string, candidates []Candidate, secretArg bool) (string, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return "", syncer.Errorf(syncer.CodeInvalid, "Name the %s.", kind)
	}
	for _, c := range candidates {
		if c.ID == arg {
			return c.ID, nil
		}
	}
	var byName, byPrefix []Candidate
	for _, c := range candidates {
		for _, n := range c.Names {
			if n != "" && strings.EqualFold(strings.TrimSpace(n), arg) {
				byName = append(byName, c)
				break
			}
		}
		if len(arg) >= MinPrefix && strings.HasPrefix(c.ID, strings.ToLower(arg)) {
			byPrefix = append(byPrefix, c)
		}
	}
	match := byName
	if len(match) == 0 {
		match = byPrefix
	}
	shown := fmt.Sprintf("%q", arg)
	if secretArg {
		shown = "what you gave"
	}
	switch len(match) {
	case 1:
		return match[0].ID, nil
	case 0:
		return "", syncer.Errorf(syncer.CodeNotFound, "No %s matches %s; give its id, or a name or reference it has.", kind, shown)
	}
	list := make([]string, 0, len(match))
	for i, c := range match {
		if i == 10 {
			list = append(list, fmt.Sprintf("and %d more", len(match)-i))
			break
		}
		if c.Label != "" {
			list = append(list, c.ID+" ("+c.Label+")")
		} else {
			list = append(list, c.ID)
		}
	}
	return "", syncer.Errorf(syncer.CodeInvalid, "%s matches %d %s: %s; give the id, or more of it.", capitalize(shown), len(match), kind.plural(), strings.Join(list, ", "))
}

func capitalize(s string) string {
	if s == "" || s[0] == '"' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
