package routing

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of free-text fields. Group names are shown in Cisco phone menus,
// whose items hold 64 characters.
const (
	maxNameLen        = 64
	maxDescriptionLen = 255
)

// cleanText trims s and checks it is valid UTF-8 without control
// characters and at most max runes long. required refuses an empty value.
func cleanText(field, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", FieldErrorf(EINVALID, field, "is not valid text")
	case required && s == "":
		return "", FieldErrorf(EINVALID, field, "is required")
	case utf8.RuneCountInString(s) > max:
		return "", FieldErrorf(EINVALID, field, "is longer than %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", FieldErrorf(EINVALID, field, "contains a control character")
		}
	}
	return s, nil
}

// normalizeNumbers normalizes a list of dial strings, dropping empty
// entries and duplicates while keeping the order.
func normalizeNumbers(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := NormalizeNumber(field, s)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}
