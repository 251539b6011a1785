package admin

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/phonediversions/phonediversions/routing"
)

// Error codes of the HTTP module beyond those of routing.
const (
	// EMETHOD: the function exists but not for this HTTP method.
	EMETHOD = "method_not_allowed"
	// ETOOLARGE: the request body is larger than allowed.
	ETOOLARGE = "too_large"
	// ETOOMANY: too many failed sign-ins from the client's address.
	ETOOMANY = "too_many_requests"
	// EUNSUPPORTED: a request body of a type the API does not read.
	EUNSUPPORTED = "unsupported_media_type"
)

// httpStatus maps an error code to its HTTP status, once for every surface.
func httpStatus(code string) int {
	switch code {
	case routing.EINVALID:
		return http.StatusBadRequest
	case routing.ENOTFOUND:
		return http.StatusNotFound
	case routing.ECONFLICT:
		return http.StatusConflict
	case routing.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case routing.EFORBIDDEN:
		return http.StatusForbidden
	case EMETHOD:
		return http.StatusMethodNotAllowed
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case ETOOMANY:
		return http.StatusTooManyRequests
	case EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case routing.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// envelopeCode is the code an error shows in the REST envelope: the
// routing code in capitals (INVALID, NOT_FOUND, CONFLICT, …).
func envelopeCode(code string) string {
	if code == "" {
		code = routing.EINTERNAL
	}
	return strings.ToUpper(code)
}

// errorText returns the message of err for a person: the field's name
// leads a message that speaks of it without naming it ("is required").
func errorText(err error) string {
	msg, field := routing.ErrorMessage(err), routing.ErrorField(err)
	if field != "" {
		for _, p := range []string{"is ", "must ", "contains "} {
			if strings.HasPrefix(msg, p) {
				return field + " " + msg
			}
		}
	}
	return msg
}

// tooLarge reports whether err comes from a body over the size limit.
func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// sentence makes a message of the domain start with a capital letter.
func sentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	if n == 0 {
		return msg
	}
	return string(unicode.ToUpper(r)) + msg[n:]
}
