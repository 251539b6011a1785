package admin

import (
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phonediversions/phonediversions/routing"
)

// params are a request's parameters from its query string and form body,
// found by name regardless of case: existing scripts write groupId,
// groupID and GroupId alike.
type params map[string]string

// maxMultipartMemory is how much of a multipart form is held in memory;
// the body limit bounds the rest.
const maxMultipartMemory = 1 << 20

// readParams gathers the parameters. A form body declared ISO-8859-1
// (charset=iso-8859-1, as scripts of the classic ASP era send) is decoded;
// otherwise values must be UTF-8. Errors: EINVALID for an unreadable query
// or body, a value that is not text, or a parameter given twice with
// different values; ETOOLARGE for a body over the limit.
func readParams(r *http.Request) (params, error) {
	p := params{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, routing.Errorf(routing.EINVALID, "the query string cannot be read: %s", queryErrorText(err))
	}
	if err := p.add(q, false); err != nil {
		return nil, err
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return p, nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	latin1 := isLatin1(ctParams["charset"])
	var form url.Values
	switch ct {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, bodyError(err)
		}
		form = r.PostForm
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxMultipartMemory); err != nil {
			return nil, bodyError(err)
		}
		form = r.MultipartForm.Value
	}
	if err := p.add(form, latin1); err != nil {
		return nil, err
	}
	return p, nil
}

func bodyError(err error) error {
	if tooLarge(err) {
		return routing.Errorf(ETOOLARGE, "the request body is larger than allowed")
	}
	return routing.Errorf(routing.EINVALID, "the request body cannot be read as a form")
}

// queryErrorText says what is wrong with a query string without echoing it.
func queryErrorText(err error) string {
	if strings.Contains(err.Error(), "semicolon") {
		return "separate parameters with & rather than ;"
	}
	return "it is not URL-encoded"
}

func isLatin1(charset string) bool {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252":
		return true
	}
	return false
}

func (p params) add(v url.Values, latin1 bool) error {
	for name, values := range v {
		if latin1 {
			name = latin1ToUTF8(name)
		}
		key := strings.ToLower(name)
		for _, val := range values {
			if latin1 {
				val = latin1ToUTF8(val)
			}
			if !utf8.ValidString(val) {
				return routing.FieldErrorf(routing.EINVALID, displayName(name), "%s is not valid UTF-8 text; send UTF-8, or declare charset=iso-8859-1 on a form body", displayName(name))
			}
			if have, ok := p[key]; ok && have != val {
				return routing.FieldErrorf(routing.EINVALID, displayName(name), "%s is given more than once with different values", displayName(name))
			}
			p[key] = val
		}
	}
	return nil
}

// displayName makes a parameter name safe to show in an answer.
func displayName(name string) string {
	if !utf8.ValidString(name) {
		return strings.ToValidUTF8(name, "?")
	}
	return truncateRunes(name, 40)
}

// get returns the parameter called name (case-insensitive), trimmed.
func (p params) get(name string) (string, bool) {
	v, ok := p[strings.ToLower(name)]
	return strings.TrimSpace(v), ok
}

// required returns the parameter or an EINVALID error naming it.
func (p params) required(name string) (string, error) {
	v, ok := p.get(name)
	if !ok || v == "" {
		return "", routing.FieldErrorf(routing.EINVALID, name, "%s is required", name)
	}
	return v, nil
}

// id parses a record id: a whole number from 1 to 2^63-1.
func parseID(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, routing.FieldErrorf(routing.EINVALID, name, "%s must be a whole number from 1 up, not %q", name, truncateRunes(v, 40))
	}
	return n, nil
}

// requiredID returns a required id parameter.
func (p params) requiredID(name string) (int64, error) {
	v, err := p.required(name)
	if err != nil {
		return 0, err
	}
	return parseID(name, v)
}

// optionalInt returns an integer parameter in [min, max], or def when it
// is absent or empty.
func (p params) optionalInt(name string, def, min, max int) (int, error) {
	v, ok := p.get(name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, routing.FieldErrorf(routing.EINVALID, name, "%s must be a whole number from %d to %d", name, min, max)
	}
	return n, nil
}

// timeLayouts are the forms from and to may take; those without an
// offset are in the configured time zone.
var timeLayouts = []string{
	"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04",
}

// parseTime reads a report bound. A date alone is the start of the day
// for from and its end for to.
func parseTime(name, v string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
		if end {
			return t.AddDate(0, 0, 1).Add(-time.Nanosecond), nil
		}
		return t, nil
	}
	return time.Time{}, routing.FieldErrorf(routing.EINVALID, name,
		"%s must be a date and time such as 2026-11-28T14:30:00+01:00, 2026-11-28 14:30 or 2026-11-28, not %q", name, truncateRunes(v, 40))
}

// matchName finds the one of names equal to v regardless of case and
// spaces ("call handler", "CallHandler" and "Call Handler" alike).
func matchName[T ~string](field, v string, names []T) (T, error) {
	key := strings.ToLower(strings.ReplaceAll(v, " ", ""))
	for _, n := range names {
		if strings.ToLower(strings.ReplaceAll(string(n), " ", "")) == key {
			return n, nil
		}
	}
	all := make([]string, len(names))
	for i, n := range names {
		all[i] = string(n)
	}
	return "", routing.FieldErrorf(routing.EINVALID, field, "%s must be one of %s, not %q", field, strings.Join(all, ", "), truncateRunes(v, 40))
}

// parseState reads ON or OFF, in any case.
func parseState(v string) (bool, error) {
	switch strings.ToUpper(v) {
	case "ON":
		return true, nil
	case "OFF":
		return false, nil
	}
	return false, routing.FieldErrorf(routing.EINVALID, "state", "state must be ON or OFF, not %q", truncateRunes(v, 40))
}

// holidayFrom reads a holiday as the REST API and the Holidays page take
// it: the first day required, the last defaulting to it, the ids of the
// groups it names (blank ones skipped).
func holidayFrom(name, first, last string, ids []string) (routing.Holiday, error) {
	h := routing.Holiday{Name: name}
	var err error
	if h.First, err = routing.ParseDate(first); err != nil {
		return h, routing.FieldErrorf(routing.EINVALID, "first", "first must be a date such as 2026-12-24, not %q", truncateRunes(first, 40))
	}
	h.Last = h.First
	if last != "" {
		if h.Last, err = routing.ParseDate(last); err != nil {
			return h, routing.FieldErrorf(routing.EINVALID, "last", "last must be a date such as 2026-12-26, not %q", truncateRunes(last, 40))
		}
	}
	for _, v := range ids {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		id, err := parseID("groupIds", v)
		if err != nil {
			return h, err
		}
		h.GroupIDs = append(h.GroupIDs, id)
	}
	return h, nil
}
