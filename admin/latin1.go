package admin

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// latin1Text appends s to b as XML character data encoded ISO-8859-1:
// markup characters escaped, characters beyond U+00FF written as numeric
// character references, and characters XML 1.0 forbids (control
// characters, invalid UTF-8) replaced by U+FFFD so that the document
// always parses.
func latin1Text(b *strings.Builder, s string) {
	if plainASCII(s) {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == utf8.RuneError && size == 1, !xmlChar(r):
			b.WriteString("&#65533;")
		case r < 0x80:
			b.WriteByte(byte(r))
		case r <= 0xFF:
			b.WriteByte(byte(r)) // the ISO-8859-1 byte of the character
		default:
			b.WriteString("&#")
			b.WriteString(strconv.Itoa(int(r)))
			b.WriteByte(';')
		}
	}
}

// plainASCII reports whether s is printable ASCII without markup
// characters: written as it is in ISO-8859-1, UTF-8, XML and JSON.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7F, c == '&', c == '<', c == '>', c == '"', c == '\'', c == '\\':
			return false
		}
	}
	return true
}

// xmlChar reports whether XML 1.0 allows r in a document.
func xmlChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return true
	case r < 0x20:
		return false
	case r >= 0x7F && r <= 0x9F:
		// Allowed by XML but C1 controls in ISO-8859-1: never meant as text.
		return false
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r <= utf8.MaxRune
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// cp1252High are the characters of Windows-1252's bytes 0x80 to 0x9F; the
// five bytes it leaves undefined keep their C1 control, as browsers do.
var cp1252High = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

// cp1252ToUTF8 decodes Windows-1252 bytes (ISO-8859-1 with printable
// characters where it has C1 controls, such as € at 0x80).
func cp1252ToUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80 && c <= 0x9F:
			b.WriteRune(cp1252High[c-0x80])
		default:
			b.WriteRune(rune(c))
		}
	}
	return b.String()
}
