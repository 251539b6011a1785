package routing

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Settings returns the call-handler settings.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	var st Settings
	err := s.view(ctx, func(tx Tx) error {
		var err error
		st, err = tx.Settings()
		return err
	})
	return st, err
}

// SettingsUpdate holds the settings to change; nil fields are kept.
type SettingsUpdate struct {
	ConnectToCalled *bool
	DirectAccess    *[]string
	// AnnouncementID chooses the global announcement; 0 the built-in one.
	AnnouncementID *int64
}

// UpdateSettings changes the call-handler settings and reports it. Errors:
// EINVALID (a direct-access entry that is no dial string, an unknown
// announcement).
func (s *Service) UpdateSettings(ctx context.Context, actor Actor, ch Channel, up SettingsUpdate) (Settings, error) {
	var st Settings
	err := s.update(ctx, func(tx Tx) error {
		var err error
		if st, err = tx.Settings(); err != nil {
			return err
		}
		var changed []string
		if up.ConnectToCalled != nil && *up.ConnectToCalled != st.ConnectToCalled {
			st.ConnectToCalled = *up.ConnectToCalled
			changed = append(changed, fmt.Sprintf("connect with called destination %s", StateName(st.ConnectToCalled)))
		}
		if up.DirectAccess != nil {
			if st.DirectAccess, err = normalizeNumbers("directAccess", *up.DirectAccess); err != nil {
				return err
			}
			changed = append(changed, fmt.Sprintf("%d direct-access number(s)", len(st.DirectAccess)))
		}
		if up.AnnouncementID != nil && *up.AnnouncementID != st.AnnouncementID {
			id := *up.AnnouncementID
			if id != 0 {
				if _, err := tx.Announcement(id); ErrorCode(err) == ENOTFOUND {
					return FieldErrorf(EINVALID, "announcementId", "announcement %d does not exist", id)
				} else if err != nil {
					return err
				}
			}
			st.AnnouncementID = id
			changed = append(changed, fmt.Sprintf("active announcement %d", id))
		}
		if err := tx.SaveSettings(st); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionSettings, Status: StatusChanged, Username: actor.Name,
			Channel: ch, Detail: strings.Join(changed, "; ")})
	})
	if err != nil {
		return Settings{}, err
	}
	return st, nil
}

// Announcements returns the metadata of every uploaded announcement, newest
// first.
func (s *Service) Announcements(ctx context.Context) ([]Announcement, error) {
	var out []Announcement
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Announcements()
		return err
	})
	return out, err
}

// AddAnnouncement records an announcement, its metadata and its audio in
// the stored form the prompts package made, in one transaction, and
// reports it. Errors: EINVALID.
func (s *Service) AddAnnouncement(ctx context.Context, actor Actor, ch Channel, a Announcement, audio []byte) (Announcement, error) {
	var err error
	if a.Name, err = cleanText("name", a.Name, maxNameLen, true); err != nil {
		return Announcement{}, err
	}
	if a.FileName, err = cleanText("fileName", a.FileName, maxDescriptionLen, false); err != nil {
		return Announcement{}, err
	}
	if a.Duration <= 0 {
		return Announcement{}, FieldErrorf(EINVALID, "duration", "must be positive")
	}
	a.ID, a.UploadedBy = 0, actor.Name
	if a.UploadedAt.IsZero() {
		a.UploadedAt = s.now()
	}
	a.UploadedAt = a.UploadedAt.Truncate(time.Millisecond)
	err = s.update(ctx, func(tx Tx) error {
		if err := tx.InsertAnnouncement(&a); err != nil {
			return err
		}
		if len(audio) > 0 {
			if err := tx.SetAnnouncementAudio(a.ID, audio); err != nil {
				return err
			}
		}
		return s.report(tx, ReportEntry{Action: ActionAnnouncement, Status: StatusCreated, Username: actor.Name,
			Channel: ch, Detail: a.Name})
	})
	if err != nil {
		return Announcement{}, err
	}
	return a, nil
}

// AnnouncementAudio returns an announcement's audio in its stored form.
// Errors: ENOTFOUND.
func (s *Service) AnnouncementAudio(ctx context.Context, id int64) ([]byte, error) {
	var data []byte
	err := s.view(ctx, func(tx Tx) error {
		var err error
		data, err = tx.AnnouncementAudio(id)
		return err
	})
	return data, err
}

// AnnouncementAudioSize returns the bytes every announcement's audio
// takes together.
func (s *Service) AnnouncementAudioSize(ctx context.Context) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx Tx) error {
		var err error
		n, err = tx.AnnouncementAudioSize()
		return err
	})
	return n, err
}

// TakeOverAnnouncementAudio stores the audio of an announcement that has
// none yet (one whose audio an earlier version kept in a file), and
// reports whether it did: an announcement that does not exist, or has
// its audio, is left as it is.
func (s *Service) TakeOverAnnouncementAudio(ctx context.Context, id int64, audio []byte) (bool, error) {
	took := false
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Announcement(id); ErrorCode(err) == ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := tx.AnnouncementAudio(id); ErrorCode(err) != ENOTFOUND {
			return err
		}
		took = true
		return tx.SetAnnouncementAudio(id, audio)
	})
	return took, err
}

// DeleteAnnouncement removes an announcement that is not in use and reports
// it. Errors: ENOTFOUND, ECONFLICT when it is the active one or a group's
// override (the message names which).
func (s *Service) DeleteAnnouncement(ctx context.Context, actor Actor, ch Channel, id int64) error {
	return s.update(ctx, func(tx Tx) error {
		a, err := tx.Announcement(id)
		if err != nil {
			return err
		}
		st, err := tx.Settings()
		if err != nil {
			return err
		}
		if st.AnnouncementID == id {
			return FieldErrorf(ECONFLICT, "announcementId", "announcement %q is the active announcement", a.Name)
		}
		groups, err := tx.Groups(GroupFilter{})
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.AnnouncementID == id {
				return FieldErrorf(ECONFLICT, "announcementId", "announcement %q is used by group %q", a.Name, g.Name)
			}
		}
		if err := tx.DeleteAnnouncement(id); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionAnnouncement, Status: StatusDeleted, Username: actor.Name,
			Channel: ch, Detail: a.Name})
	})
}

// phoneSecretName is the store's name of the phone service key's secret.
const phoneSecretName = "phone"

// phoneSecretLen is the length of the phone service secret in bytes.
const phoneSecretLen = 32

// PhoneSecret returns the secret under which phone service URLs are
// signed, generating and storing it the first time: every node of a
// store signs with the same one.
func (s *Service) PhoneSecret(ctx context.Context) ([]byte, error) {
	var secret []byte
	err := s.view(ctx, func(tx Tx) error {
		var err error
		secret, err = tx.Secret(phoneSecretName)
		return err
	})
	if ErrorCode(err) != ENOTFOUND {
		return secret, err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		// Another node (or request) may have made it meanwhile: keep theirs.
		if secret, err = tx.Secret(phoneSecretName); ErrorCode(err) != ENOTFOUND {
			return err
		}
		secret = make([]byte, phoneSecretLen)
		_, _ = rand.Read(secret) // never fails (crypto/rand)
		return tx.SetSecret(phoneSecretName, secret)
	})
	return secret, err
}

// RenewPhoneSecret replaces the phone service secret, so that every phone
// service URL given out before stops working, and reports it.
func (s *Service) RenewPhoneSecret(ctx context.Context, actor Actor, ch Channel) error {
	secret := make([]byte, phoneSecretLen)
	_, _ = rand.Read(secret)
	return s.update(ctx, func(tx Tx) error {
		if err := tx.SetSecret(phoneSecretName, secret); err != nil {
			return err
		}
		return s.report(tx, ReportEntry{Action: ActionSettings, Status: StatusChanged, Username: actor.Name,
			Channel: ch, Detail: "phone service URLs renewed: the URLs given out before no longer work"})
	})
}
