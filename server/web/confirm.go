package web

import (
	"net/http"

	"github.com/samvaer/sync/server"
)

// Destructive actions ask first: their form posts without "confirm", which shows what will
// happen and a button that posts the same form again with confirm=yes. Only then is the action
// done, so a stray click changes nothing.

// confirmation is the question a destructive action asks.
type confirmation struct {
	Title, Question string
	Consequences    []string
	Action          string            // where the confirmed form posts
	Fields          map[string]string // the form's fields, sent again
	Confirm, Back   string            // the button's words; the page to go back to
	Danger          bool
}

func (p *Pages) confirm(w http.ResponseWriter, r *http.Request, sess *server.Session, c confirmation) {
	if c.Fields == nil {
		c.Fields = map[string]string{}
	}
	c.Fields["confirm"] = "yes"
	p.render(w, r, "confirm", http.StatusOK, page{Title: c.Title, Session: sess, Data: c})
}
