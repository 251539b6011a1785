package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

// deviceName is the phone as the report names it: "phone " and the device
// name it sent (CUCM fills in #DEVICENAME#), or "phone at" its address when
// it sent none — never a bare name that reads like a user's.
func deviceName(in params, r *http.Request) string {
	v, _ := in.get("name")
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, v)
	v = strings.TrimSpace(truncateRunes(v, phoneDeviceLen))
	if v == "" || v == "#DEVICENAME#" {
		return "phone at " + clientAddr(r).String()
	}
	return "phone " + v
}

// sentName is the name parameter the phone sent, for the URLs it is sent
// on to.
func sentName(in params) string {
	v, _ := in.get("name")
	return truncateRunes(v, phoneDeviceLen)
}

// phoneScope is what a phone service URL may do: toggle one group, or
// show the menu of all groups (groupID 0).
func phoneScope(groupID int64) string {
	if groupID == 0 {
		return "menu"
	}
	return "group:" + strconv.FormatInt(groupID, 10)
}

// phoneKey is the key a phone service URL carries: an HMAC, under the
// store's phone secret, of what the URL may do.
func phoneKey(secret []byte, scope string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("phonediversions phone service\x00" + scope))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// phoneKeyOK reports whether key is the key of scope.
func phoneKeyOK(secret []byte, scope, key string) bool {
	return hmac.Equal([]byte(phoneKey(secret, scope)), []byte(key))
}

// phoneURL is the absolute URL of the phone service with the query, signed
// for the scope.
func (s *Server) phoneURL(secret []byte, scope string, q url.Values) string {
	q.Set("key", phoneKey(secret, scope))
	return s.PublicURL("/phone", q)
}

// PhoneServiceURL is the URL to give CUCM as a Standard IP Phone Service
// that toggles one group (groupID 0: the menu of all groups), with the key
// that lets it do so. Errors: the store's.
func (s *Server) PhoneServiceURL(ctx context.Context, groupID int64) (string, error) {
	secret, err := s.svc.PhoneSecret(ctx)
	if err != nil {
		return "", err
	}
	return s.phoneServiceURL(secret, groupID), nil
}

func (s *Server) phoneServiceURL(secret []byte, groupID int64) string {
	q := "key=" + phoneKey(secret, phoneScope(groupID))
	if groupID != 0 {
		q = "groupID=" + strconv.FormatInt(groupID, 10) + "&" + q
	}
	// CUCM replaces #DEVICENAME# itself: it stays unescaped in the URL.
	return s.PublicURL("/phone", nil) + "?" + q + "&name=#DEVICENAME#"
}

// notValidText is what a phone shows for a URL without a valid key.
const notValidText = "This service URL is not valid. Copy it again from the Groups tab of the diversion web page."

// servePhone is the Cisco IP phone service: with groupID it toggles that
// group; without, it toggles the only group or lists them all in a menu.
// Only a URL with the key of what it asks (the group, or the menu)
// switches anything, and only by GET or POST: HEAD shows the state.
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
	secret, err := s.svc.PhoneSecret(r.Context())
	if err != nil {
		s.log.Error().Err(err).Msg("phone service: secret")
		phoneText(w, http.StatusInternalServerError, "Diversions", "", "The diversion service failed; try again.", exitKey)
		return
	}
	device := deviceName(in, r)
	ri.user = device
	key, _ := in.get("key")
	page, _ := in.optionalInt("page", 1, 1, 1<<20)
	nav := phoneNav{secret: secret, name: sentName(in), page: page}
	_, nav.fromMenu = in.get("page")
	if v, ok := in.get("groupID"); ok && v != "" {
		id, err := parseID("groupID", v)
		if err != nil || !phoneKeyOK(secret, phoneScope(id), key) {
			s.log.Info().Str("client", addr.String()).Str("groupID", truncateRunes(v, 20)).Msg("phone service URL without a valid key")
			phoneText(w, http.StatusForbidden, "Diversions", "URL not valid", notValidText, exitKey)
			return
		}
		s.phoneToggle(w, r, id, device, nav)
		return
	}
	if !phoneKeyOK(secret, phoneScope(0), key) {
		s.log.Info().Str("client", addr.String()).Msg("phone service URL without a valid key")
		phoneText(w, http.StatusForbidden, "Diversions", "URL not valid", notValidText, exitKey)
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
		nav.fromMenu = false
		s.phoneToggle(w, r, groups[0].ID, device, nav)
	default:
		s.phoneMenu(w, groups, nav)
	}
}

// phoneNav is what the URLs a phone page gives out need: the secret to
// sign them, the device name to pass on, the menu page it came from.
type phoneNav struct {
	secret   []byte
	name     string
	page     int
	fromMenu bool
}

// menuURL is the signed URL of a page of the menu.
func (s *Server) menuURL(nav phoneNav, page int) string {
	return s.phoneURL(nav.secret, phoneScope(0), url.Values{"name": {nav.name}, "page": {strconv.Itoa(page)}})
}

// backKeys are the soft keys of a text reached from the menu: Back to the
// menu page it came from, and Exit.
func (s *Server) backKeys(nav phoneNav) []softKey {
	if !nav.fromMenu {
		return []softKey{exitKey}
	}
	return []softKey{
		{name: "Back", url: s.menuURL(nav, nav.page), position: 1},
		{name: "Exit", url: "SoftKey:Exit", position: 2},
	}
}

// phoneToggle switches a group and shows its new state; to HEAD it shows
// the state without switching.
func (s *Server) phoneToggle(w http.ResponseWriter, r *http.Request, id int64, device string, nav phoneNav) {
	var g routing.Group
	var err error
	if r.Method == http.MethodHead {
		g, err = s.svc.Group(r.Context(), id)
	} else {
		g, err = s.svc.Toggle(r.Context(), id, routing.Actor{Name: device}, routing.ChannelPhone)
	}
	switch routing.ErrorCode(err) {
	case "":
	case routing.ENOTFOUND:
		phoneText(w, http.StatusOK, "Diversions", "Unknown group", fmt.Sprintf("There is no group %d.", id), s.backKeys(nav)...)
		return
	case routing.EUNAVAILABLE:
		s.log.Warn().Err(err).Int64("group", id).Msg("phone service: toggle")
		phoneText(w, http.StatusServiceUnavailable, "Diversions", "", "The database cannot be reached at the moment: the diversion was not switched. Try again shortly.", s.backKeys(nav)...)
		return
	default:
		s.log.Error().Err(err).Int64("group", id).Msg("phone service: toggle")
		phoneText(w, http.StatusInternalServerError, "Diversions", "", "The switch failed; try again.", s.backKeys(nav)...)
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
	phoneText(w, http.StatusOK, g.Name, "Diversion "+g.StateName(), text, s.backKeys(nav)...)
}

// menuItemName is "Name: STATE", the name cut so that the state shows.
func menuItemName(g routing.Group) string {
	state := ": " + g.StateName()
	return truncateRunes(g.Name, phoneItemLen-len(state)) + state
}

// phoneMenu lists one page of groups; choosing one toggles it.
func (s *Server) phoneMenu(w http.ResponseWriter, groups []routing.Group, nav phoneNav) {
	page := nav.page
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
		x.element("URL", s.phoneURL(nav.secret, phoneScope(g.ID), url.Values{"groupID": {strconv.FormatInt(g.ID, 10)}, "name": {nav.name}, "page": {pageQuery}}))
		x.b.WriteString("</MenuItem>\n")
	}
	keys := []softKey{{name: "Select", url: "SoftKey:Select", position: 1}}
	if page > 1 {
		keys = append(keys, softKey{name: "Previous", url: s.menuURL(nav, page-1), position: 2})
	}
	if page < pages {
		keys = append(keys, softKey{name: "Next", url: s.menuURL(nav, page+1), position: 3})
	}
	keys = append(keys, softKey{name: "Exit", url: "SoftKey:Exit", position: 4})
	x.softKeys(keys)
	x.close("CiscoIPPhoneMenu")
	x.send(w, http.StatusOK)
}
