package routing

// Call is what the SIP side knows of an incoming call when it asks Decide.
type Call struct {
	// Caller is the calling number (From user part).
	Caller string
	// Called is the number of the Request-URI.
	Called string
	// Initial is the number first dialled when the call was redirected
	// before reaching the product (from Diversion or History-Info); "" when
	// it was not.
	Initial string
	// LoopMark is set when the call carries the product's own mark: it is
	// one of the product's outbound legs coming back.
	LoopMark bool
}

// LineGroup is a line together with its group.
type LineGroup struct {
	Line  Line
	Group Group
}

// Facts are the stored data a decision depends on, gathered by the caller
// of Decide so that Decide itself is pure.
type Facts struct {
	Settings Settings
	// CalledLine is the line and group of Call.Called; nil when it is no
	// line of any group.
	CalledLine *LineGroup
	// InitialLine is the line and group of Call.Initial; nil when it is no
	// line of any group.
	InitialLine *LineGroup
}

// Verdict is what to do with a call.
type Verdict int

// The verdicts.
const (
	// VerdictReject refuses the call; Decision.Reason says why.
	VerdictReject Verdict = iota
	// VerdictBridge connects the caller to Decision.Target at once, with no
	// announcement.
	VerdictBridge
	// VerdictAnnounceThenBridge answers, plays the announcement, then
	// connects the caller to Decision.Target.
	VerdictAnnounceThenBridge
	// VerdictAnnounceThenHangup answers, plays the announcement and hangs up.
	VerdictAnnounceThenHangup
	// VerdictDivert sends the call on to Decision.Target (the group's
	// destination) with a Diversion header naming Decision.DivertedFrom.
	VerdictDivert
)

var verdictNames = [...]string{"reject", "bridge", "announce-then-bridge", "announce-then-hangup", "divert"}

// String names the verdict for logs.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// RejectReason says why a call is refused.
type RejectReason int

// The reasons to refuse a call.
const (
	RejectNone RejectReason = iota
	// RejectLoop: the call is one of the product's own legs (SIP 482).
	RejectLoop
	// RejectNotFound: the called number is unknown (SIP 404).
	RejectNotFound
	// RejectInvalid: the call carries no usable number (SIP 400/484).
	RejectInvalid
)

// Decision is the answer of Decide.
type Decision struct {
	Verdict Verdict
	// Target is the number to connect to (bridge and divert verdicts).
	Target string
	// AnnouncementID is the announcement to play (announce verdicts); 0 is
	// the built-in one.
	AnnouncementID int64
	// DivertedFrom is the line the Diversion header names (divert verdict).
	DivertedFrom string
	// Reason is why the call is refused (reject verdict).
	Reason RejectReason
	// Status is what the report records when the call is handled as
	// decided (a bridge that succeeds, or an announcement followed by
	// hang-up).
	Status Status
	// Group is the name of the group the call belongs to, for the report;
	// "" when none.
	Group string
	// GroupID is the id of that group; 0 when none.
	GroupID int64
}

// Decide returns what to do with a call. It is pure: everything it needs is
// in call and facts.
//
// The order of the rules:
//  1. A call carrying the product's own loop mark is refused (482).
//  2. A call whose Request-URI is a line of a group puts the product in the
//     call path: when the group is ON the call goes to the group's
//     destination marked as diverted from the line; when it is OFF it goes to
//     the line itself.
//  3. A call that was redirected (it has an initial number) is a diverted
//     call for the call handler: a caller on the direct-access list is
//     connected at once; any other caller hears the announcement (the
//     group's own, else the global one) and is then connected to the initial
//     number or hung up, as the settings say.
//  4. Any other call is to an unknown number (404).
func Decide(call Call, facts Facts) Decision {
	if call.LoopMark {
		return Decision{Verdict: VerdictReject, Reason: RejectLoop}
	}
	if lg := facts.CalledLine; lg != nil {
		d := Decision{Status: StatusConnected, Group: lg.Group.Name, GroupID: lg.Group.ID}
		if lg.Group.On {
			d.Verdict = VerdictDivert
			d.Target = lg.Group.Destination
			d.DivertedFrom = lg.Line.Number
			return d
		}
		d.Verdict = VerdictBridge
		d.Target = lg.Line.Number
		return d
	}
	initial := numberKey(call.Initial)
	if call.Initial != "" && initial == "" {
		return Decision{Verdict: VerdictReject, Reason: RejectInvalid}
	}
	if initial == "" {
		if numberKey(call.Called) == "" {
			return Decision{Verdict: VerdictReject, Reason: RejectInvalid}
		}
		return Decision{Verdict: VerdictReject, Reason: RejectNotFound}
	}
	d := Decision{Target: initial, AnnouncementID: facts.Settings.AnnouncementID}
	if lg := facts.InitialLine; lg != nil {
		d.Group, d.GroupID = lg.Group.Name, lg.Group.ID
		if lg.Group.AnnouncementID != 0 {
			d.AnnouncementID = lg.Group.AnnouncementID
		}
	}
	switch {
	case isDirectAccess(call.Caller, facts.Settings.DirectAccess):
		d.Verdict, d.Status, d.AnnouncementID = VerdictBridge, StatusDirectAccess, 0
	case facts.Settings.ConnectToCalled:
		d.Verdict, d.Status = VerdictAnnounceThenBridge, StatusConnected
	default:
		d.Verdict, d.Status, d.Target = VerdictAnnounceThenHangup, StatusTerminated, ""
	}
	return d
}

func isDirectAccess(caller string, list []string) bool {
	key := numberKey(caller)
	if key == "" {
		return false
	}
	for _, n := range list {
		if numberKey(n) == key {
			return true
		}
	}
	return false
}
