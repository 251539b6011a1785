package sip

import (
	"sort"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// redirection is what an INVITE says about where it was first sent.
type redirection struct {
	// Initial is the number first dialled; "" when the call was not
	// redirected.
	Initial string
	// Diversions are the Diversion entries to pass on, most recent first,
	// as received (parameters reason, counter, privacy kept).
	Diversions []string
}

// splitEntries splits a header value at the commas that separate entries,
// leaving commas inside quotes or angle brackets alone.
func splitEntries(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>' && depth > 0:
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// headerEntries returns every entry of every header named name.
func headerEntries(req *sip.Request, name string) []string {
	var out []string
	for _, h := range req.GetHeaders(name) {
		for _, e := range splitEntries(h.Value()) {
			if e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// uriNumber returns the number a SIP or tel URI names: the user part
// without its parameters (sip:+4144123;phone-context=x@host) or the tel
// number. "" when there is none.
func uriNumber(u sip.Uri) string {
	n := u.User
	if strings.EqualFold(u.Scheme, "tel") {
		n = u.Host
		if n == "" {
			n = u.Raw()
		}
	}
	n, _, _ = strings.Cut(n, ";")
	return n
}

// entryNumber parses a name-addr entry and returns its number and header
// parameters.
func entryNumber(entry string) (string, sip.HeaderParams, bool) {
	var u sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(entry, &u, &params); err != nil {
		return "", nil, false
	}
	return uriNumber(u), params, true
}

// parseRedirection reads the initial number of a call from its Diversion
// headers (RFC 5806: the last entry is the original called party) or, when
// there are none, from History-Info (RFC 7044: the entry with the lowest
// index). Entries that do not parse are skipped.
func parseRedirection(req *sip.Request) redirection {
	var r redirection
	for _, e := range headerEntries(req, "Diversion") {
		if n, _, ok := entryNumber(e); ok && n != "" {
			r.Initial = n
			r.Diversions = append(r.Diversions, e)
		}
	}
	if r.Initial != "" {
		return r
	}
	type hist struct {
		index  []int
		number string
	}
	var hs []hist
	for _, e := range headerEntries(req, "History-Info") {
		n, params, ok := entryNumber(e)
		if !ok || n == "" {
			continue
		}
		idx, _ := params.Get("index")
		hs = append(hs, hist{index: parseIndex(idx), number: n})
	}
	if len(hs) < 2 {
		// One entry is only the current target: the call was not redirected.
		return r
	}
	sort.SliceStable(hs, func(i, j int) bool { return indexLess(hs[i].index, hs[j].index) })
	r.Initial = hs[0].number
	return r
}

// parseIndex reads a History-Info index such as "1.1.2"; a missing or bad
// one sorts last.
func parseIndex(s string) []int {
	if s == "" {
		return []int{1 << 30}
	}
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return []int{1 << 30}
		}
		out = append(out, n)
	}
	return out
}

func indexLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// historyNumbers are the numbers of Diversion entries.
func historyNumbers(entries []string) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if n, _, ok := entryNumber(e); ok {
			out = append(out, n)
		}
	}
	return out
}
