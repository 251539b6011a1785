package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/phonediversions/phonediversions/prompts"
	"github.com/phonediversions/phonediversions/routing"
)

// callHandlerData is the data of the Call Handler tab.
type callHandlerData struct {
	Settings      routing.Settings
	Announcements []routing.Announcement
	Builtin       time.Duration
	Groups        []routing.Group
	// WrongLines are the direct-access lines refused, by line number (1 up).
	WrongLines []string
	Location   *time.Location
	// Connect and Chosen are what the settings form shows: the stored
	// settings, or what the person sent when the form comes back refused
	// (Posted).
	Connect bool
	Chosen  int64
	Posted  bool
}

func (s *Server) callHandlerPage(w http.ResponseWriter, r *http.Request, u *webUser) {
	s.showCallHandler(w, r, u, http.StatusOK, page{})
}

// showCallHandler renders the tab; p carries a refused form.
func (s *Server) showCallHandler(w http.ResponseWriter, r *http.Request, u *webUser, status int, p page) {
	ctx := r.Context()
	st, err := s.svc.Settings(ctx)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	anns, err := s.svc.Announcements(ctx)
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	groups, err := s.svc.Groups(ctx, routing.GroupFilter{})
	if err != nil {
		s.internal(w, r, u, err)
		return
	}
	d, _ := p.Data.(callHandlerData)
	d.Settings, d.Announcements, d.Groups, d.Location = st, anns, groups, s.cfg.Location
	d.Builtin = s.ann.Builtin().Duration()
	if !d.Posted {
		d.Connect, d.Chosen = st.ConnectToCalled, st.AnnouncementID
	}
	if p.Fields == nil {
		p.Fields = map[string]string{"directAccess": strings.Join(st.DirectAccess, "\n")}
	}
	p.Title, p.User, p.Data = "Call Handler", u, d
	s.render(w, r, status, "callhandler", p)
}

// callHandlerSave saves the connect switch, the direct-access numbers and
// the active announcement. Every direct-access line is checked, and each
// wrong one is named; nothing is saved while one is wrong.
func (s *Server) callHandlerSave(w http.ResponseWriter, r *http.Request, u *webUser) {
	connect := r.PostFormValue("connect") == "on"
	var numbers, wrong []string
	for i, line := range strings.Split(r.PostFormValue("directAccess"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n, err := routing.NormalizeNumber("directAccess", line)
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("Line %d: %s.", i+1, routing.ErrorMessage(err)))
			continue
		}
		numbers = append(numbers, n)
	}
	annID, err := strconv.ParseInt(r.PostFormValue("announcementId"), 10, 64)
	if err != nil || annID < 0 {
		wrong = append(wrong, "Choose an announcement.")
	}
	// A refused form comes back as it was sent.
	sent := callHandlerData{Connect: connect, Chosen: annID, Posted: true}
	if len(wrong) > 0 {
		sent.WrongLines = wrong
		s.showCallHandler(w, r, u, http.StatusUnprocessableEntity, page{Fields: formValues(r, "directAccess"),
			Errors: map[string]string{"directAccess": "Correct the numbers marked below; nothing was saved."},
			Data:   sent})
		return
	}
	_, err = s.svc.UpdateSettings(r.Context(), u.actor(), routing.ChannelWeb,
		routing.SettingsUpdate{ConnectToCalled: &connect, DirectAccess: &numbers, AnnouncementID: &annID})
	if err != nil {
		errs, msg := fieldErrors(err, "directAccess", "announcementId")
		s.showCallHandler(w, r, u, formStatus(err), page{Fields: formValues(r, "directAccess"), Errors: errs, Error: msg, Data: sent})
		return
	}
	redirect(w, r, "/callhandler", "The call handler settings are saved.")
}

// groupAnnouncement chooses a group's own announcement (0: the global one).
func (s *Server) groupAnnouncement(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	annID, err := strconv.ParseInt(r.PostFormValue("announcementId"), 10, 64)
	if err != nil {
		s.errorPage(w, r, u, http.StatusBadRequest, "Choose an announcement.")
		return
	}
	g, err := s.svc.UpdateGroup(r.Context(), u.actor(), routing.ChannelWeb, id, routing.GroupUpdate{AnnouncementID: &annID})
	if err != nil {
		s.failed(w, r, u, err)
		return
	}
	redirect(w, r, "/callhandler#groups", "The announcement of "+g.Name+" is saved.")
}

// uploadRetrySeconds is the Retry-After of an upload refused while others
// are converted.
const uploadRetrySeconds = 5

// maxNameField bounds the announcement name read from the upload.
const maxNameField = 1 << 10

// announcementUpload reads the name and the WAV file from the form as it
// streams in, and has the announcement checked and stored. A refusal is
// shown beside the field, and nothing changes.
func (s *Server) announcementUpload(w http.ResponseWriter, r *http.Request, u *webUser) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.UploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.UploadTimeout + time.Minute))
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes+maxNameField*4)
	// drain reads what is left of the upload (bounded by the reader
	// above and the read deadline) before an early refusal, so that the
	// browser, still sending its file, gets the answer rather than a
	// connection reset.
	drain := func() { io.Copy(io.Discard, r.Body) }
	refuse := func(status int, field, msg string) {
		if wantsJSONAnswer(r) {
			writeJSON(w, status, map[string]string{"field": field, "error": msg})
			return
		}
		s.showCallHandler(w, r, u, status, page{Errors: map[string]string{field: msg}})
	}
	mr, err := r.MultipartReader()
	if err != nil {
		refuse(http.StatusBadRequest, "file", "Choose a WAV file to upload.")
		return
	}
	if want, check := uploadToken(r); check {
		// The form's first field is its token (the page puts it first;
		// browsers send the fields in the page's order).
		part, err := mr.NextPart()
		var got []byte
		if err == nil && part.FormName() == "csrf" {
			got, _ = io.ReadAll(io.LimitReader(part, 256))
		}
		if !tokenEqual(string(got), want) {
			drain()
			s.errorPage(w, r, u, http.StatusForbidden, "The form has expired or did not come from this site. Reload the page and try again; nothing was changed.")
			return
		}
	}
	// Converting an announcement takes half a core for seconds: one at a
	// time (MaxDecodes), so that calls in progress keep their share.
	select {
	case s.decodes <- struct{}{}:
		defer func() { <-s.decodes }()
	default:
		drain()
		w.Header().Set("Retry-After", strconv.Itoa(uploadRetrySeconds))
		busy := "Another announcement is being converted"
		if n := cap(s.decodes); n > 1 {
			busy = fmt.Sprintf("%d announcements are being converted", n)
		}
		refuse(http.StatusServiceUnavailable, "file", busy+"; upload this one again in a few seconds.")
		return
	}
	var name string
	var a routing.Announcement
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			refuse(http.StatusUnprocessableEntity, "file", "Choose a WAV file to upload.")
			return
		} else if err != nil {
			refuse(uploadStatus(err), "file", uploadText(err))
			return
		}
		switch part.FormName() {
		case "name":
			b, _ := io.ReadAll(io.LimitReader(part, maxNameField))
			name = strings.TrimSpace(string(b))
			continue
		case "file":
		default:
			continue
		}
		file := filepath.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
		if file == "." || file == "/" || part.FileName() == "" {
			refuse(http.StatusUnprocessableEntity, "file", "Choose a WAV file to upload.")
			return
		}
		if name == "" {
			name = strings.TrimSuffix(file, filepath.Ext(file))
		}
		id, _, err := s.ann.Add(r.Context(), part, func(d time.Duration, stored []byte) (int64, error) {
			var err error
			a, err = s.svc.AddAnnouncement(r.Context(), u.actor(), routing.ChannelWeb, routing.Announcement{Name: name, FileName: file, Duration: d}, stored)
			return a.ID, err
		})
		var pe *prompts.Error
		switch {
		case errors.As(err, &pe):
			refuse(http.StatusUnprocessableEntity, "file", sentence(pe.Message)+".")
			return
		case routing.ErrorCode(err) == routing.EINVALID:
			refuse(http.StatusUnprocessableEntity, "name", sentence(routing.ErrorMessage(err))+".")
			return
		case tooLarge(err):
			refuse(http.StatusRequestEntityTooLarge, "file", uploadText(err))
			return
		case err != nil:
			s.internal(w, r, u, err)
			return
		}
		msg := fmt.Sprintf("Announcement %s (%s) is uploaded. Choose it below to make it active.", a.Name, a.Duration.Round(100*time.Millisecond))
		if wantsJSONAnswer(r) {
			setFlash(w, r, msg)
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "message": msg})
			return
		}
		redirect(w, r, "/callhandler", msg)
		return
	}
}

func uploadStatus(err error) int {
	if tooLarge(err) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func uploadText(err error) string {
	if tooLarge(err) {
		return "The file is larger than allowed."
	}
	return "The upload was cut short; try again."
}

// announcementOf returns the audio of an announcement; id 0 is the
// built-in one.
func (s *Server) announcementOf(w http.ResponseWriter, r *http.Request, u *webUser) (*prompts.Prompt, bool) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return nil, false
	}
	if id == 0 {
		return s.ann.Builtin(), true
	}
	p, err := s.ann.Get(id)
	if err != nil {
		s.errorPage(w, r, u, http.StatusNotFound, "There is no such announcement.")
		return nil, false
	}
	return p, true
}

// announcementAudio plays the stored 8 kHz audio as a WAV file: what
// callers hear.
func (s *Server) announcementAudio(w http.ResponseWriter, r *http.Request, u *webUser) {
	p, ok := s.announcementOf(w, r, u)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": "announcement-" + r.PathValue("id") + ".wav"}))
	if err := p.WriteWAV(w); err != nil {
		s.log.Debug().Err(err).Msg("announcement audio")
	}
}

// waveform dimensions.
const waveWidth, waveHeight = 240, 40

// announcementWaveform draws the announcement's loudness as an SVG.
func (s *Server) announcementWaveform(w http.ResponseWriter, r *http.Request, u *webUser) {
	p, ok := s.announcementOf(w, r, u)
	if !ok {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img"><title>Waveform, %s</title><path stroke="#1f5fa8" stroke-width="1" d="`,
		waveWidth, waveHeight, waveWidth, waveHeight, p.Duration().Round(100*time.Millisecond))
	mid := float32(waveHeight) / 2
	for x, v := range p.Peaks(waveWidth) {
		h := max(v*mid, 0.5)
		fmt.Fprintf(&b, "M%d.5 %.1fV%.1f", x, mid-h, mid+h)
	}
	b.WriteString(`"/></svg>`)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = io.WriteString(w, b.String())
}

// announcementDelete deletes an announcement nobody uses; the refusal
// names who uses it.
func (s *Server) announcementDelete(w http.ResponseWriter, r *http.Request, u *webUser) {
	id, ok := s.pathID(w, r, u)
	if !ok {
		return
	}
	if err := s.svc.DeleteAnnouncement(r.Context(), u.actor(), routing.ChannelWeb, id); err != nil {
		if routing.ErrorCode(err) == routing.ECONFLICT {
			s.showCallHandler(w, r, u, http.StatusConflict, page{Error: sentence(routing.ErrorMessage(err)) + "; choose another one there first."})
			return
		}
		s.failed(w, r, u, err)
		return
	}
	s.ann.Forget(id) // its audio went with it
	redirect(w, r, "/callhandler", "The announcement is deleted.")
}

// Announcements converts and keeps the announcements' audio (the prompts
// library, over the store).
type Announcements interface {
	Add(ctx context.Context, r io.Reader, register func(d time.Duration, stored []byte) (int64, error)) (int64, *prompts.Prompt, error)
	Get(id int64) (*prompts.Prompt, error)
	Builtin() *prompts.Prompt
	Forget(id int64)
	Stored(ctx context.Context) (used, most int64, err error)
}
