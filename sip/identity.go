package sip

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// identity is who calls, as the trunk asserts it, and the privacy they
// asked for. Calls come from trusted trunks only, so the asserted identity
// is taken: P-Asserted-Identity (RFC 3325), then Remote-Party-ID (CUCM's),
// then From.
type identity struct {
	// Number is the caller's number ("" when none is known) and Display
	// the name shown with it.
	Number, Display string
	// Privacy are the values of the Privacy header (RFC 3323: id, user,
	// header, session, critical, none); RPIDPrivacy the privacy parameter
	// of Remote-Party-ID (full, name, uri, off).
	Privacy     []string
	RPIDPrivacy string
}

// Hidden reports whether the caller asked that their identity not be
// shown to the called party.
func (id identity) Hidden() bool {
	for _, p := range id.Privacy {
		switch strings.ToLower(p) {
		case "id", "user", "header":
			return true
		}
	}
	switch strings.ToLower(id.RPIDPrivacy) {
	case "full", "uri":
		return true
	}
	return false
}

// callerIdentity reads the identity of an INVITE's caller.
func callerIdentity(req *sip.Request) identity {
	var id identity
	for _, h := range req.GetHeaders("Privacy") {
		for _, v := range strings.FieldsFunc(h.Value(), func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			id.Privacy = append(id.Privacy, v)
		}
	}
	for _, entry := range headerEntries(req, "P-Asserted-Identity") {
		if number, addr, ok := assertedNumber(entry); ok {
			id.Number, id.Display = number, addr.DisplayName
			break
		}
	}
	for _, entry := range headerEntries(req, "Remote-Party-ID") {
		number, addr, ok := assertedNumber(entry)
		if !ok {
			continue
		}
		if party, _ := addr.Params.Get("party"); party != "" && !strings.EqualFold(party, "calling") {
			continue
		}
		id.RPIDPrivacy, _ = addr.Params.Get("privacy")
		if id.Number == "" {
			id.Number, id.Display = number, addr.DisplayName
		}
		break
	}
	if id.Number == "" {
		if from := req.From(); from != nil {
			id.Number, id.Display = uriNumber(from.Address), from.DisplayName
		}
	}
	return id
}

// assertedNumber reads the number of an identity header entry (a sip,
// sips or tel URI) with its display name and parameters.
func assertedNumber(entry string) (string, sip.ToHeader, bool) {
	var addr sip.ToHeader
	addr.Params = sip.NewParams()
	display, err := sip.ParseAddressValue(entry, &addr.Address, &addr.Params)
	if err != nil {
		return "", addr, false
	}
	addr.DisplayName = display
	n := uriNumber(addr.Address)
	return n, addr, n != ""
}

// identityHeaders are the headers that carry the caller's identity to the
// far leg: From (anonymous when the caller asked for privacy), the
// asserted identity for the trusted PBX in both forms it may read, and
// the privacy asked for.
func (id identity) identityHeaders(host string) (*sip.FromHeader, []sip.Header) {
	from := &sip.FromHeader{DisplayName: id.Display, Address: sip.Uri{Scheme: "sip", User: id.Number, Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	if id.Number == "" {
		from.Address = sip.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}
		return from, nil
	}
	asserted := "<sip:" + id.Number + "@" + host + ">"
	if id.Display != "" {
		asserted = `"` + strings.ReplaceAll(id.Display, `"`, "") + `" ` + asserted
	}
	rpidPrivacy := "off"
	var headers []sip.Header
	if id.Hidden() {
		from.DisplayName = "Anonymous"
		from.Address = sip.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}
		rpidPrivacy = "full"
		privacy := strings.Join(id.Privacy, ";")
		if privacy == "" {
			privacy = "id"
		}
		headers = append(headers, sip.NewHeader("Privacy", privacy))
	} else if len(id.Privacy) > 0 {
		headers = append(headers, sip.NewHeader("Privacy", strings.Join(id.Privacy, ";")))
	}
	headers = append(headers, sip.NewHeader("P-Asserted-Identity", asserted),
		sip.NewHeader("Remote-Party-ID", asserted+";party=calling;screen=yes;privacy="+rpidPrivacy))
	return from, headers
}
