// Package e2e holds end-to-end tests: the real server on a loopback port and tablets built on
// clientlib, as a municipality would run them. It has no non-test code beyond this comment and
// the test helpers; it is the one place that imports both server and clientlib.
package e2e
