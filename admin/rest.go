package admin

import (
	"context"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// restFunction is one function of the REST API.
type restFunction struct {
	name string
	// change marks a function that changes data: POST only.
	change bool
	// priv is the privilege the function needs besides REST.
	priv routing.Privileges
	call func(s *Server, ctx context.Context, p principal, in params) (answer, error)
}

// answer is what a function returns: data, or a word (NOT_FOUND, OK).
type answer struct {
	data []node
	word string
}

func dataAnswer(n ...node) answer { return answer{data: n} }

// findFunction looks a function up by its name in the path, with or
// without ".asp" and in any case (the ASP pages it replaces were served by
// a case-insensitive server).
func findFunction(fns []restFunction, pathName string) (restFunction, bool) {
	name := pathName
	if len(name) > 4 && strings.EqualFold(name[len(name)-4:], ".asp") {
		name = name[:len(name)-4]
	}
	for _, f := range fns {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return restFunction{}, false
}

// allowed returns the methods a function answers.
func (f restFunction) allowed() string {
	switch {
	case f.change:
		return "POST"
	case f.name == "events":
		return "GET, HEAD"
	default:
		return "GET, HEAD, POST"
	}
}

// wantsJSON reports whether the client asked for JSON: format=json in the
// query string, else an Accept header that prefers application/json by its
// quality values to every type XML answers (application/xml, text/xml and
// the wildcards), or ranks them equal and lists JSON first. Anything else
// gets the XML the original product answered: "application/json;q=0.5,
// application/xml" is XML, "application/json, text/plain, */*" JSON.
func wantsJSON(r *http.Request) bool {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, "format") && len(v) > 0 {
			return strings.EqualFold(strings.TrimSpace(v[0]), "json")
		}
	}
	jsonQ, xmlQ := 0.0, 0.0
	jsonAt, xmlAt := -1, -1
	for i, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, ps, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := ps["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		switch mt {
		case "application/json":
			if q > jsonQ {
				jsonQ, jsonAt = q, i
			}
		case "application/xml", "text/xml", "*/*", "application/*", "text/*":
			if q > xmlQ {
				xmlQ, xmlAt = q, i
			}
		}
	}
	return jsonQ > 0 && (jsonQ > xmlQ || (jsonQ == xmlQ && jsonAt < xmlAt))
}

// restHandler answers /Rest/NAME and /Rest/NAME.asp with the functions.
func (s *Server) restHandler(fns []restFunction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.serveREST(fns, w, r) }
}

// serveREST answers one request of the REST API.
func (s *Server) serveREST(fns []restFunction, w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	asJSON := wantsJSON(r)
	f, known := findFunction(fns, r.PathValue("function"))
	request := f.name
	ri.route = "/Rest/" + f.name
	if !known {
		request = truncateRunes(strings.ToValidUTF8(r.PathValue("function"), "?"), 64)
		ri.route = "/Rest/unknown"
	}
	fail := func(err error) {
		if r.Context().Err() != nil {
			return // the client left: nobody reads the answer
		}
		setDenialHeaders(w, err)
		code := routing.ErrorCode(err)
		switch code {
		case routing.EINTERNAL:
			s.log.Error().Err(err).Str("function", request).Msg("REST function failed")
		case routing.EUNAVAILABLE:
			s.log.Warn().Err(err).Str("function", request).Msg("REST function failed")
		}
		envelope{request: request, errCode: envelopeCode(code), errParam: routing.ErrorField(err),
			errMsg: errorText(err)}.write(w, httpStatus(code), asJSON)
	}
	if known && f.change && !sameOrigin(r) {
		fail(routing.Errorf(routing.EFORBIDDEN, "%s came from a web page of another site (its browser said so in Origin or Sec-Fetch-Site) and changes nothing; scripts send neither header", f.name))
		return
	}
	p, err := s.authorize(r)
	ri.user = p.name
	if err != nil {
		fail(err)
		return
	}
	if !known {
		fail(routing.Errorf(routing.ENOTFOUND, "there is no function %q", request))
		return
	}
	if !slices.Contains(strings.Split(f.allowed(), ", "), r.Method) {
		w.Header().Set("Allow", f.allowed())
		fail(routing.Errorf(EMETHOD, "%s answers %s, not %s", f.name, f.allowed(), r.Method))
		return
	}
	if err := requirePrivilege(p, f.priv); err != nil {
		fail(err)
		return
	}
	in, err := readParams(r)
	if err != nil {
		fail(err)
		return
	}
	if v, ok := in.get("format"); ok && !strings.EqualFold(v, "json") && !strings.EqualFold(v, "xml") {
		fail(routing.FieldErrorf(routing.EINVALID, "format", "format must be xml or json"))
		return
	}
	if v, ok := in.get("format"); ok {
		asJSON = strings.EqualFold(v, "json")
	}
	if f.name == "events" {
		s.serveEvents(w, r, p.privileges)
		return
	}
	a, err := f.call(s, r.Context(), p, in)
	if err != nil {
		fail(err)
		return
	}
	envelope{request: f.name, data: a.data, word: a.word}.write(w, http.StatusOK, asJSON)
}

// groupNode is a group as listGroups shows it. New elements go at the
// end: scripts parse this. A group that follows a schedule has its next
// change after its description.
func (s *Server) groupNode(g routing.Group, ncs map[int64]routing.NextChange) node {
	n := elem("Group",
		numLeaf("GroupID", g.ID),
		leaf("GroupName", g.Name),
		leaf("Destination", g.Destination),
		leaf("State", g.StateName()),
		leaf("Description", g.Description))
	if nc, ok := ncs[g.ID]; ok {
		manual := "false"
		if nc.Manual {
			manual = "true"
		}
		n.children = append(n.children, elem("NextChange",
			leaf("Time", nc.At.In(s.cfg.Location).Format(time.RFC3339)),
			leaf("State", routing.StateName(nc.On)),
			leaf("Manual", manual)))
	}
	return n
}

// groupsAnswer lists groups with their next changes.
func (s *Server) groupsAnswer(ctx context.Context, groups ...routing.Group) (answer, error) {
	if len(groups) == 0 {
		return answer{word: notFoundAnswer}, nil
	}
	ncs, err := s.svc.NextChanges(ctx, s.svc.Now())
	if err != nil {
		return answer{}, err
	}
	items := make([]node, len(groups))
	for i, g := range groups {
		items[i] = s.groupNode(g, ncs)
	}
	return dataAnswer(list("DiversionGroups", items)), nil
}

func (s *Server) listGroups(ctx context.Context, _ principal, in params) (answer, error) {
	var f routing.GroupFilter
	if v, ok := in.get("groupId"); ok && v != "" {
		id, err := parseID("groupId", v)
		if err != nil {
			return answer{}, err
		}
		f.ID = id
	}
	if v, ok := in.get("groupName"); ok {
		f.Name = v
	}
	groups, err := s.svc.Groups(ctx, f)
	if err != nil {
		return answer{}, err
	}
	return s.groupsAnswer(ctx, groups...)
}

func (s *Server) setDiversion(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	v, err := in.required("state")
	if err != nil {
		return answer{}, err
	}
	on, err := parseState(v)
	if err != nil {
		return answer{}, err
	}
	var g routing.Group
	if u, ok := in.get("until"); ok && u != "" {
		until, err := parseTime("until", u, s.cfg.Location, false)
		if err != nil {
			return answer{}, err
		}
		g, err = s.svc.SetStateUntil(ctx, id, on, until, p.actor(), routing.ChannelREST)
		if err != nil {
			return answer{}, err
		}
	} else if g, err = s.svc.SetState(ctx, id, on, p.actor(), routing.ChannelREST); err != nil {
		return answer{}, err
	}
	return s.groupsAnswer(ctx, g)
}

func (s *Server) toggleDiversion(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	g, err := s.svc.Toggle(ctx, id, p.actor(), routing.ChannelREST)
	if err != nil {
		return answer{}, err
	}
	return s.groupsAnswer(ctx, g)
}

func (s *Server) addGroup(ctx context.Context, p principal, in params) (answer, error) {
	name, err := in.required("groupName")
	if err != nil {
		return answer{}, err
	}
	dest, err := in.required("destination")
	if err != nil {
		return answer{}, err
	}
	desc, _ := in.get("description")
	g, err := s.svc.CreateGroup(ctx, p.actor(), routing.ChannelREST, routing.Group{Name: name, Destination: dest, Description: desc})
	if err != nil {
		return answer{}, err
	}
	return s.groupsAnswer(ctx, g)
}

func (s *Server) updateGroup(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	var up routing.GroupUpdate
	for name, dst := range map[string]**string{"groupName": &up.Name, "destination": &up.Destination, "description": &up.Description} {
		if v, ok := in.get(name); ok {
			*dst = &v
		}
	}
	if up.Name == nil && up.Destination == nil && up.Description == nil {
		return answer{}, routing.FieldErrorf(routing.EINVALID, "groupName", "give at least one of groupName, destination and description")
	}
	g, err := s.svc.UpdateGroup(ctx, p.actor(), routing.ChannelREST, id, up)
	if err != nil {
		return answer{}, err
	}
	return s.groupsAnswer(ctx, g)
}

func (s *Server) deleteGroup(ctx context.Context, p principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	if err := s.svc.DeleteGroup(ctx, p.actor(), routing.ChannelREST, id); err != nil {
		return answer{}, err
	}
	return answer{word: okAnswer}, nil
}

// lineNode is a line as listLines shows it.
func lineNode(l routing.LineInfo) node {
	return elem("Line",
		leaf("LineNumber", l.Number),
		leaf("Description", l.Description),
		leaf("Username", l.Username))
}

func linesAnswer(lines ...routing.LineInfo) answer {
	if len(lines) == 0 {
		return answer{word: notFoundAnswer}
	}
	items := make([]node, len(lines))
	for i, l := range lines {
		items[i] = lineNode(l)
	}
	return dataAnswer(list("Lines", items))
}

func (s *Server) listLines(ctx context.Context, _ principal, in params) (answer, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return answer{}, err
	}
	lines, err := s.svc.Lines(ctx, id)
	if err != nil {
		return answer{}, err
	}
	return linesAnswer(lines...), nil
}

// lineWithOwner answers a line that was just written, with its owner.
func (s *Server) lineWithOwner(ctx context.Context, l routing.Line) (answer, error) {
	owner, err := s.svc.UsernameOf(ctx, l.Number)
	if err != nil {
		return answer{}, err
	}
	return linesAnswer(routing.LineInfo{Line: l, Username: owner}), nil
}

// groupLine reads the groupId and lineNumber every line function needs.
func groupLine(in params) (int64, string, error) {
	id, err := in.requiredID("groupId")
	if err != nil {
		return 0, "", err
	}
	number, err := in.required("lineNumber")
	return id, number, err
}

func (s *Server) addLine(ctx context.Context, p principal, in params) (answer, error) {
	id, number, err := groupLine(in)
	if err != nil {
		return answer{}, err
	}
	desc, _ := in.get("description")
	l, err := s.svc.AddLine(ctx, p.actor(), routing.ChannelREST, id, number, desc)
	if err != nil {
		return answer{}, err
	}
	return s.lineWithOwner(ctx, l)
}

func (s *Server) updateLine(ctx context.Context, p principal, in params) (answer, error) {
	id, number, err := groupLine(in)
	if err != nil {
		return answer{}, err
	}
	desc, ok := in.get("description")
	if !ok {
		return answer{}, routing.FieldErrorf(routing.EINVALID, "description", "description is required (it may be empty to clear it)")
	}
	l, err := s.svc.UpdateLine(ctx, p.actor(), routing.ChannelREST, id, number, desc)
	if err != nil {
		return answer{}, err
	}
	return s.lineWithOwner(ctx, l)
}

func (s *Server) deleteLine(ctx context.Context, p principal, in params) (answer, error) {
	id, number, err := groupLine(in)
	if err != nil {
		return answer{}, err
	}
	if err := s.svc.DeleteLine(ctx, p.actor(), routing.ChannelREST, id, number); err != nil {
		return answer{}, err
	}
	return answer{word: okAnswer}, nil
}

// reportFilter reads the filter parameters of listReports.
func (s *Server) reportFilter(in params) (routing.ReportFilter, error) {
	var f routing.ReportFilter
	var err error
	if v, _ := in.get("from"); v != "" {
		if f.From, err = parseTime("from", v, s.cfg.Location, false); err != nil {
			return f, err
		}
	}
	if v, _ := in.get("to"); v != "" {
		if f.To, err = parseTime("to", v, s.cfg.Location, true); err != nil {
			return f, err
		}
	}
	if v, _ := in.get("action"); v != "" {
		if f.Action, err = matchName("action", v, routing.Actions); err != nil {
			return f, err
		}
	}
	if v, _ := in.get("status"); v != "" {
		if f.Status, err = matchName("status", v, routing.Statuses); err != nil {
			return f, err
		}
	}
	f.Search, _ = in.get("search")
	if v, _ := in.get("order"); v != "" {
		switch strings.ToLower(v) {
		case "newest":
		case "oldest":
			f.OldestFirst = true
		default:
			return f, routing.FieldErrorf(routing.EINVALID, "order", "order must be newest or oldest")
		}
	}
	if f.Limit, err = in.optionalInt("limit", routing.DefaultReportLimit, 1, routing.MaxReportLimit); err != nil {
		return f, err
	}
	if f.Offset, err = in.optionalInt("offset", 0, 0, 1<<31-1); err != nil {
		return f, err
	}
	return f, nil
}

// reportNode is a report entry as listReports shows it.
func (s *Server) reportNode(e routing.ReportEntry) node {
	return elem("Report",
		numLeaf("ID", e.ID),
		leaf("Time", e.Time.In(s.cfg.Location).Format(time.RFC3339)),
		leaf("Action", string(e.Action)),
		leaf("Status", string(e.Status)),
		leaf("Username", e.Username),
		leaf("Caller", e.Caller),
		leaf("Receiver", e.Receiver),
		leaf("Group", e.Group),
		leaf("Channel", string(e.Channel)),
		leaf("Detail", e.Detail),
		numLeaf("GroupID", e.GroupID))
}

func (s *Server) listReports(ctx context.Context, _ principal, in params) (answer, error) {
	f, err := s.reportFilter(in)
	if err != nil {
		return answer{}, err
	}
	page, err := s.svc.Reports(ctx, f)
	if err != nil {
		return answer{}, err
	}
	if page.Total == 0 {
		return answer{word: notFoundAnswer}, nil
	}
	items := make([]node, len(page.Entries))
	for i, e := range page.Entries {
		items[i] = s.reportNode(e)
	}
	return dataAnswer(numLeaf("Total", int64(page.Total)), list("Reports", items)), nil
}
