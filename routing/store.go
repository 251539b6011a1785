package routing

import (
	"context"
	"time"
)

// Store persists the domain. Update runs fn in one write transaction: every
// change fn makes, and every report entry it appends, is committed together
// or not at all. View runs fn in a read-only transaction. Implementations
// return *Error with ENOTFOUND for missing records and ECONFLICT for
// uniqueness violations, naming the field.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// ChangeFollower is a store that other processes change too (the nodes
// sharing a PostgreSQL database). FollowChanges calls wake once at its
// start, whenever a process may have committed a change, and again after
// it lost and regained its way of knowing (so that nothing is missed
// meanwhile), telling lost why it was lost; it returns ctx's error when
// ctx ends.
type ChangeFollower interface {
	FollowChanges(ctx context.Context, wake func(), lost func(error)) error
}

// Tx is the set of operations available inside a transaction.
type Tx interface {
	// Group returns the group with the id (ENOTFOUND when there is none).
	Group(id int64) (Group, error)
	// Groups returns the groups matching the filter, ordered by name.
	Groups(f GroupFilter) ([]Group, error)
	// InsertGroup stores g and sets its ID and timestamps.
	InsertGroup(g *Group) error
	// UpdateGroup writes every field of g except ID and CreatedAt.
	UpdateGroup(g *Group) error
	// DeleteGroup removes the group and its lines.
	DeleteGroup(id int64) error

	// Line returns the line with the number (ENOTFOUND when there is none).
	Line(number string) (Line, error)
	// Lines returns the lines of a group, ordered by number.
	Lines(groupID int64) ([]Line, error)
	// AllLines returns the lines of every group, ordered by number.
	AllLines() ([]Line, error)
	// InsertLine stores l; ECONFLICT when the number already has a group.
	InsertLine(l Line) error
	// UpdateLine changes the description of a line.
	UpdateLine(l Line) error
	// DeleteLine removes a line.
	DeleteLine(number string) error

	// User returns the user with the id.
	User(id int64) (User, error)
	// UserByUsername returns the user with the username.
	UserByUsername(username string) (User, error)
	// UserOfLine returns the user owning the line number.
	UserOfLine(number string) (User, error)
	// Users returns every user, ordered by username.
	Users() ([]User, error)
	// InsertUser stores u and sets its ID and timestamps.
	InsertUser(u *User) error
	// UpdateUser writes every field of u except ID and CreatedAt.
	UpdateUser(u *User) error
	// DeleteUser removes a user.
	DeleteUser(id int64) error

	// Settings returns the call-handler settings.
	Settings() (Settings, error)
	// SaveSettings replaces the call-handler settings.
	SaveSettings(s Settings) error

	// Secret returns the secret called name (ENOTFOUND when there is none).
	Secret(name string) ([]byte, error)
	// SetSecret stores or replaces the secret called name.
	SetSecret(name string, value []byte) error

	// Announcement returns the announcement with the id.
	Announcement(id int64) (Announcement, error)
	// Announcements returns every announcement, newest first.
	Announcements() ([]Announcement, error)
	// InsertAnnouncement stores a and sets its ID.
	InsertAnnouncement(a *Announcement) error
	// DeleteAnnouncement removes an announcement and its audio.
	DeleteAnnouncement(id int64) error
	// AnnouncementAudio returns the stored audio of an announcement
	// (ENOTFOUND when there is none).
	AnnouncementAudio(id int64) ([]byte, error)
	// SetAnnouncementAudio stores or replaces an announcement's audio.
	SetAnnouncementAudio(id int64, data []byte) error
	// AnnouncementAudioSize returns the bytes of every announcement's
	// stored audio together.
	AnnouncementAudioSize() (int64, error)

	// AppendReport appends e and sets its ID. The entries of changes
	// (every action but Call Handler) get ids in the order their
	// transactions commit, whichever process commits them.
	AppendReport(e *ReportEntry) error
	// ChangesAfter returns up to limit entries of changes (every action
	// but Call Handler) with an id above id, by id.
	ChangesAfter(id int64, limit int) ([]ReportEntry, error)
	// LastChange returns the id of the newest change's entry (0: none).
	LastChange() (int64, error)
	// Reports returns a page of entries matching f and their total count.
	Reports(f ReportFilter) (ReportPage, error)
	// EachReport calls fn with every entry matching f (its limit and
	// offset aside), in f's order, one at a time; an error of fn stops it.
	EachReport(f ReportFilter, fn func(ReportEntry) error) error
	// ReportCounts counts the entries matching f by status in time slots
	// of the length slot since the Unix epoch, ordered by slot.
	ReportCounts(f ReportFilter, slot time.Duration) ([]ReportCount, error)

	// Schedule returns a group's weekly ranges, by day and start.
	Schedule(groupID int64) ([]Range, error)
	// Schedules returns the weekly ranges of every group that has some.
	Schedules() (map[int64][]Range, error)
	// SetSchedule replaces a group's weekly ranges (none: no schedule).
	SetSchedule(groupID int64, ranges []Range) error
	// Holidays returns the holiday calendar, by first day, each with the
	// groups it names.
	Holidays() ([]Holiday, error)
	// InsertHoliday stores h and sets its ID.
	InsertHoliday(h *Holiday) error
	// DeleteHoliday removes a holiday (ENOTFOUND when there is none).
	DeleteHoliday(id int64) error

	// InsertSession stores a new session.
	InsertSession(s Session) error
	// Session returns the session with the id (ENOTFOUND when there is none).
	Session(id string) (Session, error)
	// TouchSession records that the session was used at the time.
	TouchSession(id string, at time.Time) error
	// DeleteSession removes a session; a missing one is no error.
	DeleteSession(id string) error
	// DeleteUserSessions removes every session of a user.
	DeleteUserSessions(userID int64) error
	// DeleteStaleSessions removes the sessions created or last seen before
	// the times and returns how many.
	DeleteStaleSessions(createdBefore, seenBefore time.Time) (int, error)

	// SignInFailures returns the failed sign-ins counted under key
	// (ENOTFOUND when there are none).
	SignInFailures(key string) (SignInFailures, error)
	// CountSignInFailure counts a failed sign-in at the time under key:
	// one more in the window that started after windowStart, else the
	// first of a new window.
	CountSignInFailure(key string, at, windowStart time.Time) error
	// ClearSignInFailures forgets the failures counted under key.
	ClearSignInFailures(key string) error
	// DeleteStaleSignInFailures removes the counts whose window started
	// before the time and returns how many.
	DeleteStaleSignInFailures(before time.Time) (int, error)
}
