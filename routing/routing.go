// Package routing is the domain of PhoneDiversions: diversion groups, their
// lines, users and privileges, the call-handler settings, announcements'
// metadata and the report. It holds the Store interface that embedded or
// external databases implement, the Service that enforces the rules of the
// domain on top of a Store, and Decide, the pure decision of what to do with
// a call. It knows nothing of SIP or HTTP.
package routing

import (
	"strings"
	"time"
)

// Group is a diversion group: while it is ON, calls to any of its lines go
// to its destination.
type Group struct {
	ID          int64
	Name        string
	Description string
	// Destination is the dial string calls are diverted to while the group is ON.
	Destination string
	On          bool
	// AnnouncementID overrides the global announcement for calls diverted
	// from this group's lines; 0 means the global one.
	AnnouncementID int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// OverrideUntil is when a manual switch of a group that follows a
	// plan stops holding and the plan takes over again; zero: no manual
	// switch holds.
	OverrideUntil time.Time
	// ScheduleApplied is the moment of the last scheduled change applied
	// to the group (zero: none). A change whose moment is not after it
	// has been applied already.
	ScheduleApplied time.Time
}

// StateName returns "ON" or "OFF".
func (g Group) StateName() string { return StateName(g.On) }

// StateName returns "ON" for true and "OFF" for false, as shown to users.
func StateName(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// GroupUpdate holds the fields of a group to change; nil fields are kept.
type GroupUpdate struct {
	Name           *string
	Description    *string
	Destination    *string
	AnnouncementID *int64
}

// GroupFilter selects groups. Zero values select all.
type GroupFilter struct {
	ID   int64
	Name string
}

// Line is a phone line (a directory number) of a group.
type Line struct {
	Number      string
	Description string
	GroupID     int64
}

// Privileges is the set of things a user may do.
type Privileges uint16

// The privileges. Each tab of the web page and each API function checks one.
const (
	PrivState Privileges = 1 << iota
	PrivGroups
	PrivCallHandler
	PrivReports
	PrivREST
	PrivAdmin
)

var privilegeNames = []struct {
	p    Privileges
	name string
}{
	{PrivState, "State"},
	{PrivGroups, "Groups"},
	{PrivCallHandler, "CallHandler"},
	{PrivReports, "Reports"},
	{PrivREST, "REST"},
	{PrivAdmin, "Admin"},
}

// Has reports whether the set grants p. Admin implies every privilege.
func (ps Privileges) Has(p Privileges) bool {
	return ps&PrivAdmin != 0 || ps&p == p
}

// Names returns the names of the privileges in the set, in a fixed order.
func (ps Privileges) Names() []string {
	var out []string
	for _, pn := range privilegeNames {
		if ps&pn.p != 0 {
			out = append(out, pn.name)
		}
	}
	return out
}

// String returns the names joined by commas.
func (ps Privileges) String() string { return strings.Join(ps.Names(), ",") }

// ParsePrivileges parses privilege names (case-insensitive). An unknown name
// is an EINVALID error on the field "privileges".
func ParsePrivileges(names []string) (Privileges, error) {
	var ps Privileges
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, pn := range privilegeNames {
			if strings.EqualFold(pn.name, n) {
				ps |= pn.p
				found = true
				break
			}
		}
		if !found {
			return 0, FieldErrorf(EINVALID, "privileges", "unknown privilege %q", n)
		}
	}
	return ps, nil
}

// AllPrivileges is every privilege.
const AllPrivileges = PrivState | PrivGroups | PrivCallHandler | PrivReports | PrivREST | PrivAdmin

// User is a person who signs in to switch diversions or administer.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	Department  string
	// Lines are the line numbers the user owns.
	Lines      []string
	Privileges Privileges
	// PasswordHash is the slow salted hash of the password; empty: the user
	// cannot sign in.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Label renders the user as shown next to a number: "Display Name,
// Department", or as much of it as is known, or the username.
func (u User) Label() string {
	switch {
	case u.DisplayName != "" && u.Department != "":
		return u.DisplayName + ", " + u.Department
	case u.DisplayName != "":
		return u.DisplayName
	case u.Department != "":
		return u.Username + ", " + u.Department
	default:
		return u.Username
	}
}

// UserUpdate holds the fields of a user to change; nil fields are kept.
type UserUpdate struct {
	Username    *string
	DisplayName *string
	Department  *string
	Lines       *[]string
	Privileges  *Privileges
}

// Settings are the global call-handler settings.
type Settings struct {
	// ConnectToCalled: after the announcement, connect the caller to the
	// initial number (true) or hang up (false).
	ConnectToCalled bool
	// DirectAccess are caller numbers connected at once, with no announcement.
	DirectAccess []string
	// AnnouncementID is the active global announcement; 0 means the built-in one.
	AnnouncementID int64
}

// Announcement is the metadata of an uploaded announcement. Its audio lives
// with the prompts package.
type Announcement struct {
	ID         int64
	Name       string
	FileName   string
	Duration   time.Duration
	UploadedBy string
	UploadedAt time.Time
}

// Action is the kind of a report entry.
type Action string

// The report actions.
const (
	ActionDiversion    Action = "Diversion"
	ActionCallHandler  Action = "Call Handler"
	ActionGroup        Action = "Group"
	ActionLine         Action = "Line"
	ActionUser         Action = "User"
	ActionAnnouncement Action = "Announcement"
	ActionSettings     Action = "Settings"
)

// Status is the outcome recorded in a report entry.
type Status string

// The report statuses.
const (
	StatusActivated    Status = "Activated"
	StatusDeactivated  Status = "Deactivated"
	StatusConnected    Status = "Connected"
	StatusDirectAccess Status = "Direct access"
	StatusTerminated   Status = "Terminated"
	StatusBusy         Status = "Busy"
	StatusNoAnswer     Status = "No answer"
	StatusFailed       Status = "Failed"
	StatusCancelled    Status = "Cancelled"
	StatusCreated      Status = "Created"
	StatusChanged      Status = "Changed"
	StatusDeleted      Status = "Deleted"
)

// Actions lists every report action, for filters and forms.
var Actions = []Action{ActionDiversion, ActionCallHandler, ActionGroup, ActionLine, ActionUser, ActionAnnouncement, ActionSettings}

// Statuses lists every report status, for filters and forms.
var Statuses = []Status{StatusActivated, StatusDeactivated, StatusConnected, StatusDirectAccess, StatusTerminated, StatusBusy, StatusNoAnswer, StatusFailed, StatusCancelled, StatusCreated, StatusChanged, StatusDeleted}

// Channel is where an action came from.
type Channel string

// The channels.
const (
	ChannelWeb      Channel = "web"
	ChannelPhone    Channel = "phone"
	ChannelREST     Channel = "rest"
	ChannelSIP      Channel = "sip"
	ChannelSchedule Channel = "schedule"
	ChannelSystem   Channel = "system"
)

// Actor is who performs an action: a signed-in user, a phone (by device
// name) or the system itself.
type Actor struct {
	UserID int64
	// Name is what the report shows as the username.
	Name string
}

// ReportEntry is one line of the report. Names are copied in when it is
// written so that the entry keeps its meaning after the group or user is
// renamed or deleted.
type ReportEntry struct {
	ID       int64
	Time     time.Time
	Action   Action
	Status   Status
	Username string
	Caller   string
	Receiver string
	Group    string
	// GroupID is the id of the group the entry concerns; 0 when none.
	GroupID int64
	Channel Channel
	// Detail is free text for configuration changes (what changed).
	Detail string
}

// ReportFilter selects report entries. Zero values select all.
type ReportFilter struct {
	From, To time.Time
	Action   Action
	Status   Status
	// Search matches a substring (case-insensitive) of the username, caller,
	// receiver or group.
	Search string
	// OldestFirst orders by time ascending; the default is newest first.
	// With a search of three characters or more, entries come in the
	// order they were recorded, which is their time order.
	OldestFirst bool
	Limit       int
	Offset      int
	// CountUpTo stops counting the matching entries beyond this many (0:
	// count them all): a page needs no exact total of a million.
	CountUpTo int
}

// ReportPage is one page of report entries and the total count matching the
// filter.
type ReportPage struct {
	Entries []ReportEntry
	Total   int
	// AtLeast tells that more entries than Total match (the count stopped
	// at the filter's CountUpTo).
	AtLeast bool
}

// ReportCount is the number of report entries with a status in a time slot.
type ReportCount struct {
	Start  time.Time
	Status Status
	Count  int
}

// Session is a signed-in browser.
type Session struct {
	// ID is the hex SHA-256 of the token the browser holds.
	ID     string
	UserID int64
	// CSRF is the token every form of the session carries.
	CSRF      string
	CreatedAt time.Time
	SeenAt    time.Time
}
