package sip

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// newParser returns the SIP stack's parser with one correction: RFC 3261
// (25.1, SEMI and EQUAL) allows blanks around a parameter's ";" and "=",
// which the stack's parser keeps in the name and value (To: <sip:a@b> ;
// tag = 1 reads as the parameter "  tag " valued " 1"). Such a From tag
// breaks the transaction key of a request without an RFC 3261 branch and
// the stack answers it 400; such a To tag hides that a request is within
// a dialog. The parameters of From, To, Via and Contact are trimmed.
//
// It is also stricter in one place: a display name in From or To that is
// not quoted must be tokens (RFC 3261 25.1); "Bell, Alexander <sip:...>"
// is refused, as RFC 4475 3.1.2.8 asks, because the comma makes the
// header two values to other elements.
func newParser() *sip.Parser {
	parsers := sip.HeadersParser{}
	for name, parse := range sip.DefaultHeadersParser() {
		parsers[name] = parse
	}
	for _, name := range []string{"from", "f", "to", "t", "via", "v", "contact", "m"} {
		parse := parsers[name]
		parsers[name] = func(headerName []byte, text string) (sip.Header, error) {
			if err := checkDisplayName(name, text); err != nil {
				return nil, err
			}
			// On a comma the stack's parser returns the first value with
			// an error that says so, and is called again for the rest.
			h, err := parse(headerName, text)
			trimParams(headerParams(h))
			return h, err
		}
	}
	return sip.NewParser(sip.WithHeadersParsers(parsers))
}

// headerParams returns the parameters of a From, To, Via or Contact
// header, nil for any other.
func headerParams(h sip.Header) sip.HeaderParams {
	switch h := h.(type) {
	case *sip.FromHeader:
		if h != nil {
			return h.Params
		}
	case *sip.ToHeader:
		if h != nil {
			return h.Params
		}
	case *sip.ViaHeader:
		if h != nil {
			return h.Params
		}
	case *sip.ContactHeader:
		if h != nil {
			return h.Params
		}
	}
	return nil
}

// trimParams removes the blanks around each parameter's name and value.
func trimParams(p sip.HeaderParams) {
	for i := range p {
		p[i].K = strings.TrimSpace(p[i].K)
		p[i].V = strings.TrimSpace(p[i].V)
	}
}

// checkDisplayName refuses an unquoted display name in From or To that is
// not made of tokens and blanks.
func checkDisplayName(header, text string) error {
	switch header {
	case "from", "f", "to", "t":
	default:
		return nil
	}
	text = strings.TrimSpace(text)
	name, _, ok := strings.Cut(text, "<")
	if !ok || strings.HasPrefix(text, `"`) {
		return nil
	}
	for _, c := range name {
		if !isTokenChar(c) && c != ' ' && c != '\t' {
			return fmt.Errorf("display name %q must be quoted", strings.TrimSpace(name))
		}
	}
	return nil
}

// isTokenChar reports whether c may appear in an RFC 3261 token.
func isTokenChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune("-.!%*_+`'~", c)
}
