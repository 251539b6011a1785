package routing

import (
	"errors"
	"fmt"
)

// Error codes. Each maps once to an HTTP status and a REST answer by the
// packages that speak those protocols.
const (
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	// EUNAVAILABLE: the store (or the program) cannot serve the request
	// at the moment; the same request may succeed a little later.
	EUNAVAILABLE = "unavailable"
)

// Error is the typed error of the domain. Code is one of the E* constants,
// Field names the input field at fault (empty when none), Message is a
// lower-case sentence meant for the person who gave the input.
type Error struct {
	Code    string
	Field   string
	Message string
}

// Error returns the message, prefixed with the field when there is one.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("routing error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("routing error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message and no field.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error with the code, the field at fault and a
// formatted message.
func FieldErrorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// StoreUnavailableError is the error of a store that cannot be reached:
// its server is down, refuses connections, or does not answer in time.
// Nothing was changed; the same request may succeed once it answers. Its
// code is EUNAVAILABLE.
type StoreUnavailableError struct{ Err error }

// Error says that the store does not answer, and why.
func (e *StoreUnavailableError) Error() string {
	return "the store cannot be reached: " + e.Err.Error()
}

// Unwrap returns the store's own error.
func (e *StoreUnavailableError) Unwrap() error { return e.Err }

// storeUnavailableMessage is what a person is told when the store cannot
// be reached.
const storeUnavailableMessage = "the database cannot be reached at the moment, so nothing was changed; try again shortly"

// ErrorCode returns the code of err when it is (or wraps) an *Error,
// EUNAVAILABLE when it is a StoreUnavailableError, EINTERNAL for any other
// non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	var u *StoreUnavailableError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case errors.As(err, &u):
		return EUNAVAILABLE
	default:
		return EINTERNAL
	}
}

// ErrorField returns the field named by err when it is (or wraps) an *Error.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorMessage returns the user-facing message of err. Errors that are not
// *Error are internal: their text is not shown to users.
func ErrorMessage(err error) string {
	var e *Error
	var u *StoreUnavailableError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case errors.As(err, &u):
		return storeUnavailableMessage
	default:
		return "internal error"
	}
}
