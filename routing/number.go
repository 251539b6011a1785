package routing

import "strings"

// maxNumberLen bounds dial strings; E.164 numbers have at most 15 digits and
// PBX dial strings with prefixes and codes stay well below this.
const maxNumberLen = 32

// NormalizeNumber returns the dial string s in its stored form: spaces, dots,
// dashes, slashes and parentheses that people write for readability are
// removed; a leading "+" and leading zeros are kept, because "+41…", "0041…"
// and "041…" are different dial strings to a PBX. What remains must be
// digits, "*" and "#", with an optional leading "+". Otherwise the answer is
// an EINVALID error naming field.
func NormalizeNumber(field, s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0 && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '/' || r == '(' || r == ')':
			// visual separators
		default:
			return "", FieldErrorf(EINVALID, field, "%q is not a dial string: use digits, *, # and an optional leading +", s)
		}
	}
	n := b.String()
	switch {
	case n == "" || n == "+":
		return "", FieldErrorf(EINVALID, field, "a number is required")
	case len(n) > maxNumberLen:
		return "", FieldErrorf(EINVALID, field, "%q is longer than %d characters", s, maxNumberLen)
	}
	return n, nil
}

// numberKey returns the form used to compare a number that came from the
// network (a SIP URI, a header) with stored numbers, or "" when it is not a
// dial string.
func numberKey(s string) string {
	n, err := NormalizeNumber("", s)
	if err != nil {
		return ""
	}
	return n
}
