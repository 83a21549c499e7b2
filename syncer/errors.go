package syncer

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an Error. The server maps codes to Connect codes in one place
// (server/errors.go); the tablet maps Connect codes back.
type Code string

// Error codes, named after what a caller can do about them.
const (
	CodeInvalid            Code = "invalid"             // the request is malformed; retrying will not help
	CodeNotFound           Code = "not_found"           // the thing named does not exist (or is not yours to see)
	CodeUnauthenticated    Code = "unauthenticated"     // no, bad or expired credentials
	CodePermissionDenied   Code = "permission_denied"   // authenticated, but not allowed
	CodeFailedPrecondition Code = "failed_precondition" // the system is not in a state that allows this
	CodeAlreadyExists      Code = "already_exists"      // something with that name or reference exists already
	CodeResourceExhausted  Code = "resource_exhausted"  // too big or too many
	CodeUnavailable        Code = "unavailable"         // try again later
	CodeUnimplemented      Code = "unimplemented"       // no such call (the two ends are of different versions)
	CodeInternal           Code = "internal"            // a bug or a broken disk; details only in the server log
)

// HTTPStatus is the HTTP status a page answers an error of this code with: one table for the
// server's pages and the tablet's app.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeInvalid:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodePermissionDenied:
		return http.StatusForbidden
	case CodeFailedPrecondition, CodeAlreadyExists:
		return http.StatusConflict
	case CodeResourceExhausted:
		return http.StatusRequestEntityTooLarge
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeUnimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// Error is an application error: a code and a sentence a person understands. The message never
// holds a field value a person wrote.
type Error struct {
	Code    Code
	Message string
	// Key names the same sentence in the product's message catalog (internal/i18n) and Args are
	// its data as name/value pairs, so a door that speaks the reader's language (the pages) can
	// say it in Danish; Message stays the English wire text. "" when the sentence has no key.
	Key  string
	Args []any
}

// With gives the error its message key and data (see Error.Key) and returns it.
func (e *Error) With(key string, args ...any) *Error {
	e.Key, e.Args = key, args
	return e
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal for any other error
// and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or a generic sentence for
// any other error (whose text may hold details not meant for a person).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error; the server log has the details."
}
