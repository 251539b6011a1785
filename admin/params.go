package admin

import (
	"encoding/json"
	"errors"
	"io"
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

// readParams gathers the parameters of the query string and of the body,
// whatever the method (some clients send GET with a form body): a form
// (application/x-www-form-urlencoded or multipart/form-data) or a JSON
// object of plain values. Text that is not valid UTF-8 and declares no
// charset is read as Windows-1252, as scripts of the original product's
// era send it; a body declared windows-1252 or iso-8859-1 is decoded as
// Windows-1252 (of which ISO-8859-1's printable characters are a part).
// Errors: EINVALID for an unreadable query or body, a body declared UTF-8
// that is not, a JSON value that is not plain, or a parameter given twice
// with different values; EUNSUPPORTED for a body of another type;
// ETOOLARGE for a body over the limit.
func readParams(r *http.Request) (params, error) {
	p := params{}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, routing.Errorf(routing.EINVALID, "the query string cannot be read: %s", queryErrorText(err))
	}
	if err := p.add(q, textUTF8OrCP1252); err != nil {
		return nil, err
	}
	if !hasBody(r) {
		return p, nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	decode, err := charsetDecoder(ctParams["charset"])
	if err != nil {
		return nil, err
	}
	var form url.Values
	switch ct {
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, bodyError(err)
		}
		if form, err = url.ParseQuery(string(b)); err != nil {
			return nil, routing.Errorf(routing.EINVALID, "the request body cannot be read as a form: %s", queryErrorText(err))
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxMultipartMemory); err != nil {
			return nil, bodyError(err)
		}
		form = r.MultipartForm.Value
	case "application/json":
		if form, err = jsonParams(r); err != nil {
			return nil, err
		}
	default:
		return nil, routing.Errorf(EUNSUPPORTED, "a request body must be a form (application/x-www-form-urlencoded or multipart/form-data) or JSON (application/json), not %q",
			truncateRunes(strings.ToValidUTF8(r.Header.Get("Content-Type"), "?"), 60))
	}
	if err := p.add(form, decode); err != nil {
		return nil, err
	}
	return p, nil
}

// hasBody reports whether the request carries a body.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && (r.ContentLength > 0 || len(r.TransferEncoding) > 0)
}

// jsonParams reads a JSON object whose values are strings, numbers,
// booleans or null (left out).
func jsonParams(r *http.Request) (url.Values, error) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		if tooLarge(err) {
			return nil, routing.Errorf(ETOOLARGE, "the request body is larger than allowed")
		}
		return nil, routing.Errorf(routing.EINVALID, "the request body is not a JSON object")
	}
	if dec.More() {
		return nil, routing.Errorf(routing.EINVALID, "the request body holds more than one JSON value")
	}
	out := url.Values{}
	for k, v := range obj {
		switch v := v.(type) {
		case nil:
		case string:
			out.Set(k, v)
		case json.Number:
			out.Set(k, v.String())
		case bool:
			out.Set(k, strconv.FormatBool(v))
		default:
			return nil, routing.FieldErrorf(routing.EINVALID, displayName(k), "%s must be a string, a number or true/false", displayName(k))
		}
	}
	return out, nil
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

// charsetDecoder returns how to read the text of a body that declares
// charset (empty: none). Errors: EUNSUPPORTED for a charset the API does
// not read.
func charsetDecoder(charset string) (func(string) (string, error), error) {
	switch strings.ToLower(charset) {
	case "":
		return textUTF8OrCP1252, nil
	case "utf-8", "utf8", "us-ascii", "ascii":
		return textUTF8, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252":
		return func(s string) (string, error) { return cp1252ToUTF8(s), nil }, nil
	}
	return nil, routing.Errorf(EUNSUPPORTED, "the body's charset %q is not read: send UTF-8, or windows-1252", truncateRunes(strings.ToValidUTF8(charset, "?"), 30))
}

// textUTF8OrCP1252 keeps valid UTF-8 and reads anything else as
// Windows-1252.
func textUTF8OrCP1252(s string) (string, error) {
	if utf8.ValidString(s) {
		return s, nil
	}
	return cp1252ToUTF8(s), nil
}

// errNotUTF8 is what textUTF8 returns for text that is not UTF-8.
var errNotUTF8 = errors.New("not UTF-8")

// textUTF8 accepts valid UTF-8 only (the body declared it).
func textUTF8(s string) (string, error) {
	if utf8.ValidString(s) {
		return s, nil
	}
	return "", errNotUTF8
}

// add takes the values, each name and value read by decode.
func (p params) add(v url.Values, decode func(string) (string, error)) error {
	for name, values := range v {
		name, err := decode(name)
		if err != nil {
			return routing.Errorf(routing.EINVALID, "a parameter name is not UTF-8, which the body's charset declares")
		}
		key := strings.ToLower(name)
		for _, val := range values {
			if val, err = decode(val); err != nil {
				return routing.FieldErrorf(routing.EINVALID, displayName(name), "%s is not UTF-8, which the body's charset declares", displayName(name))
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

// timeLayouts are the forms from and to may take besides RFC 3339: ISO
// and the original product's dd.mm.yyyy; those without an offset are in
// the configured time zone.
var timeLayouts = []string{
	"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04",
	"02.01.2006 15:04:05", "02.01.2006 15:04",
}

// dateLayouts are the forms of a date alone.
var dateLayouts = []string{"2006-01-02", "02.01.2006"}

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
	for _, layout := range dateLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			if end {
				return t.AddDate(0, 0, 1).Add(-time.Nanosecond), nil
			}
			return t, nil
		}
	}
	return time.Time{}, routing.FieldErrorf(routing.EINVALID, name,
		"%s must be a date and time such as 2026-11-28T14:30:00+01:00, 2026-11-28 14:30, 28.11.2026 14:30:00 or 2026-11-28, not %q", name, truncateRunes(v, 40))
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
