package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/phonediversions/phonediversions/routing"
)

// Limits of Cisco IP phone XML objects.
const (
	phoneTitleLen  = 32  // Title and Prompt
	phoneItemLen   = 64  // MenuItem Name
	phoneMenuItems = 100 // MenuItems in one CiscoIPPhoneMenu
	phoneDeviceLen = 64  // longest device name taken for the report
)

// phoneContentType matches the encoding of phoneProlog.
const (
	phoneContentType = "text/xml; charset=ISO-8859-1"
	phoneProlog      = `<?xml version="1.0" encoding="ISO-8859-1"?>` + "\n"
)

// softKey is a SoftKeyItem: custom soft keys replace the phone's own, so
// every page names all the keys it needs.
type softKey struct {
	name, url string
	position  int
}

// phoneXML writes a Cisco IP phone XML object.
type phoneXML struct{ b strings.Builder }

func (x *phoneXML) open(root string) {
	x.b.WriteString(phoneProlog)
	x.b.WriteString("<" + root + ">\n")
}

func (x *phoneXML) element(name, text string) {
	x.b.WriteString("<" + name + ">")
	latin1Text(&x.b, text)
	x.b.WriteString("</" + name + ">\n")
}

func (x *phoneXML) titles(title, prompt string) {
	x.element("Title", truncateRunes(title, phoneTitleLen))
	if prompt != "" {
		x.element("Prompt", truncateRunes(prompt, phoneTitleLen))
	}
}

func (x *phoneXML) softKeys(keys []softKey) {
	for _, k := range keys {
		x.b.WriteString("<SoftKeyItem>\n")
		x.element("Name", k.name)
		x.element("URL", k.url)
		x.element("Position", strconv.Itoa(k.position))
		x.b.WriteString("</SoftKeyItem>\n")
	}
}

func (x *phoneXML) close(root string) { x.b.WriteString("</" + root + ">\n") }

func (x *phoneXML) send(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", phoneContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(x.b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(x.b.String()))
}

var exitKey = softKey{name: "Exit", url: "SoftKey:Exit", position: 1}

// phoneText answers a CiscoIPPhoneText.
func phoneText(w http.ResponseWriter, status int, title, prompt, text string, keys ...softKey) {
	var x phoneXML
	x.open("CiscoIPPhoneText")
	x.titles(title, prompt)
	x.element("Text", text)
	x.softKeys(keys)
	x.close("CiscoIPPhoneText")
	x.send(w, status)
}

// deviceName is the phone's device name (CUCM fills in #DEVICENAME#) as
// the report shows it, or the phone's address when it sent none.
func deviceName(in params, r *http.Request) string {
	v, _ := in.get("name")
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, v)
	v = strings.TrimSpace(truncateRunes(v, phoneDeviceLen))
	if v == "" {
		return clientAddr(r).String()
	}
	return v
}

// phoneURL is the absolute URL of the phone service with the query.
func (s *Server) phoneURL(q url.Values) string { return s.PublicURL("/phone", q) }

// PhoneServiceURL is the URL to give CUCM as a Standard IP Phone Service
// that toggles one group (groupID 0: the menu of all groups).
func (s *Server) PhoneServiceURL(groupID int64) string {
	// CUCM replaces #DEVICENAME# itself: it stays unescaped in the URL.
	q := "name=#DEVICENAME#"
	if groupID != 0 {
		q = "groupID=" + strconv.FormatInt(groupID, 10) + "&" + q
	}
	return s.phoneURL(nil) + "?" + q
}

// servePhone is the Cisco IP phone service: with groupID it toggles that
// group; without, it toggles the only group or lists them all in a menu.
func (s *Server) servePhone(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	ri.route = "/phone"
	addr := clientAddr(r)
	if !s.cfg.PhoneNetworks.Contains(addr) {
		phoneText(w, http.StatusForbidden, "Diversions", "", "This phone's network may not use the diversion service.", exitKey)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		phoneText(w, http.StatusMethodNotAllowed, "Diversions", "", "The diversion service answers GET and POST.", exitKey)
		return
	}
	in, err := readParams(r)
	if err != nil {
		phoneText(w, httpStatus(routing.ErrorCode(err)), "Diversions", "", errorText(err), exitKey)
		return
	}
	device := deviceName(in, r)
	ri.user = device
	page, _ := in.optionalInt("page", 1, 1, 1<<20)
	if v, ok := in.get("groupID"); ok && v != "" {
		id, err := parseID("groupID", v)
		if err != nil {
			phoneText(w, http.StatusOK, "Diversions", "Unknown group", fmt.Sprintf("There is no group %q.", truncateRunes(v, 20)), s.backKeys(in, device, page)...)
			return
		}
		s.phoneToggle(w, r, id, in, device, page)
		return
	}
	groups, err := s.svc.Groups(r.Context(), routing.GroupFilter{})
	if err != nil {
		s.log.Error().Err(err).Msg("phone service: groups")
		phoneText(w, http.StatusInternalServerError, "Diversions", "", "The diversion service failed; try again.", exitKey)
		return
	}
	switch len(groups) {
	case 0:
		phoneText(w, http.StatusOK, "Diversions", "", "No diversion groups are set up.", exitKey)
	case 1:
		s.phoneToggle(w, r, groups[0].ID, in, device, 0)
	default:
		s.phoneMenu(w, groups, device, page)
	}
}

// backKeys are the soft keys of a text reached from the menu: Back to the
// menu page it came from, and Exit.
func (s *Server) backKeys(in params, device string, page int) []softKey {
	if _, fromMenu := in.get("page"); !fromMenu {
		return []softKey{exitKey}
	}
	return []softKey{
		{name: "Back", url: s.phoneURL(url.Values{"name": {device}, "page": {strconv.Itoa(page)}}), position: 1},
		{name: "Exit", url: "SoftKey:Exit", position: 2},
	}
}

// phoneToggle switches a group and shows its new state.
func (s *Server) phoneToggle(w http.ResponseWriter, r *http.Request, id int64, in params, device string, page int) {
	g, err := s.svc.Toggle(r.Context(), id, routing.Actor{Name: device}, routing.ChannelPhone)
	switch routing.ErrorCode(err) {
	case "":
	case routing.ENOTFOUND:
		phoneText(w, http.StatusOK, "Diversions", "Unknown group", fmt.Sprintf("There is no group %d.", id), s.backKeys(in, device, page)...)
		return
	default:
		s.log.Error().Err(err).Int64("group", id).Msg("phone service: toggle")
		phoneText(w, http.StatusInternalServerError, "Diversions", "", "The switch failed; try again.", s.backKeys(in, device, page)...)
		return
	}
	text := fmt.Sprintf("The diversion of %s is now %s.", g.Name, g.StateName())
	if g.On && g.Destination != "" {
		text += fmt.Sprintf(" Calls go to %s.", g.Destination)
	}
	if ncs, err := s.svc.NextChanges(r.Context(), s.svc.Now()); err == nil {
		if nc, ok := ncs[g.ID]; ok {
			when := s.when(nc.At, s.svc.Now())
			switch {
			case nc.Manual && nc.On == g.On:
				text += fmt.Sprintf(" This holds until %s, when the schedule wants it %s too.", when, routing.StateName(nc.On))
			case nc.Manual:
				text += fmt.Sprintf(" This holds until %s; then the schedule switches it %s.", when, routing.StateName(nc.On))
			default:
				text += fmt.Sprintf(" The schedule switches it %s %s.", routing.StateName(nc.On), atWhen(when))
			}
		}
	}
	phoneText(w, http.StatusOK, g.Name, "Diversion "+g.StateName(), text, s.backKeys(in, device, page)...)
}

// menuItemName is "Name: STATE", the name cut so that the state shows.
func menuItemName(g routing.Group) string {
	state := ": " + g.StateName()
	return truncateRunes(g.Name, phoneItemLen-len(state)) + state
}

// phoneMenu lists one page of groups; choosing one toggles it.
func (s *Server) phoneMenu(w http.ResponseWriter, groups []routing.Group, device string, page int) {
	pages := (len(groups) + phoneMenuItems - 1) / phoneMenuItems
	page = min(max(page, 1), pages)
	title := "Diversions"
	if pages > 1 {
		title = fmt.Sprintf("Diversions %d/%d", page, pages)
	}
	var x phoneXML
	x.open("CiscoIPPhoneMenu")
	x.titles(title, "Choose a group to switch")
	pageQuery := strconv.Itoa(page)
	for _, g := range groups[(page-1)*phoneMenuItems : min(page*phoneMenuItems, len(groups))] {
		x.b.WriteString("<MenuItem>\n")
		x.element("Name", menuItemName(g))
		x.element("URL", s.phoneURL(url.Values{"groupID": {strconv.FormatInt(g.ID, 10)}, "name": {device}, "page": {pageQuery}}))
		x.b.WriteString("</MenuItem>\n")
	}
	keys := []softKey{{name: "Select", url: "SoftKey:Select", position: 1}}
	if page > 1 {
		keys = append(keys, softKey{name: "Previous", url: s.phoneURL(url.Values{"name": {device}, "page": {strconv.Itoa(page - 1)}}), position: 2})
	}
	if page < pages {
		keys = append(keys, softKey{name: "Next", url: s.phoneURL(url.Values{"name": {device}, "page": {strconv.Itoa(page + 1)}}), position: 3})
	}
	keys = append(keys, softKey{name: "Exit", url: "SoftKey:Exit", position: 4})
	x.softKeys(keys)
	x.close("CiscoIPPhoneMenu")
	x.send(w, http.StatusOK)
}
