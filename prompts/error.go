package prompts

import "fmt"

// Error codes of announcement refusals and look-ups.
const (
	ENOTWAV      = "not_wav"
	ETRUNCATED   = "truncated"
	ENODATA      = "no_data"
	EUNSUPPORTED = "unsupported"
	ETOOLONG     = "too_long"
	ETOOLARGE    = "too_large"
	ENOTFOUND    = "not_found"
	ENOSPACE     = "no_space"
)

// Error is a refusal of an announcement file, or a missing announcement.
// Message says why in words meant for the person who uploaded the file.
type Error struct {
	Code    string
	Message string
}

// Error returns the message prefixed with the code.
func (e *Error) Error() string { return "prompts: " + e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
