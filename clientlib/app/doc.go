// Package app is the consultant's app: the visit screens a tablet's own process serves on
// loopback to a browser or a native shell's WebView, built only on clientlib (the same library
// the command-line tablet and clientlib/mobile use). It works offline and syncs through
// clientlib whenever the server can be reached.
//
//   - app.go: the App, its loopback listener, the one-time start URL, the session cookie, CSRF
//     tokens, the content security policy, the PIN on the page and the idle lock.
//   - autosync.go: syncing on its own while unlocked: Subscribe says when to pull, a write is
//     pushed within seconds, an offline tablet keeps trying.
//   - pages.go: the pages and their forms (html/template, embedded), which work as plain forms;
//     static/app.js only enhances them (saving as she types, the live sync bar).
//   - texts.go: every word shown, in Danish (default) and English, and Danish dates and times in
//     Europe/Copenhagen.
//
// It imports clientlib and syncer; never server/. Nothing a person wrote is logged.
package app
