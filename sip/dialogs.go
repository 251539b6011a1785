package sip

import (
	"slices"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// dialogRef is a dialog of a call: the caller's (far false) or the far
// party's.
type dialogRef struct {
	c   dialogHandler
	far bool
}

// dialogHandler takes the in-dialog requests of a call's dialogs: the
// call (call.go).
type dialogHandler interface {
	onAck(req *sip.Request, tx sip.ServerTransaction, far bool)
	onBye(req *sip.Request, tx sip.ServerTransaction, far bool)
	onRefresh(req *sip.Request, tx sip.ServerTransaction, far bool)
}

// dialogs finds the call of an in-dialog request, whichever side sent it.
type dialogs struct {
	mu   sync.Mutex
	byID map[string]dialogRef
}

// register makes in-dialog requests with this dialog id reach c.
func (d *dialogs) register(id string, c dialogHandler, far bool) {
	d.mu.Lock()
	d.byID[id] = dialogRef{c: c, far: far}
	d.mu.Unlock()
}

func (d *dialogs) unregister(id string) {
	d.mu.Lock()
	delete(d.byID, id)
	d.mu.Unlock()
}

// lookup finds the call of an in-dialog request.
func (d *dialogs) lookup(req *sip.Request) (dialogRef, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		if r, ok := d.byID[id]; ok && !r.far {
			return r, true
		}
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		if r, ok := d.byID[id]; ok && r.far {
			return r, true
		}
	}
	return dialogRef{}, false
}

// ringing remembers the far legs still ringing, to recognise one of them
// forwarded back to us by the PBX (the line it rings forwards all calls to
// us): it carries no mark of ours, but the same caller, the same number,
// and our Diversion history with the PBX's new entry on top.
type ringing struct {
	mu   sync.Mutex
	legs map[string][]ringingLeg // by caller|target
}

// ringingLeg is one far leg: the numbers of the Diversion entries it
// carried, most recent first.
type ringingLeg struct {
	id      uint64
	history []string
}

func ringKey(caller, target string) string { return caller + "|" + target }

// add remembers a far leg from caller to target carrying history (the
// numbers of its Diversion entries); the function returned forgets it.
func (r *ringing) add(caller, target string, history []string) (forget func()) {
	key := ringKey(caller, target)
	r.mu.Lock()
	defer r.mu.Unlock()
	var id uint64
	if legs := r.legs[key]; len(legs) > 0 {
		id = legs[len(legs)-1].id + 1
	}
	r.legs[key] = append(r.legs[key], ringingLeg{id: id, history: history})
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		legs := slices.DeleteFunc(r.legs[key], func(l ringingLeg) bool { return l.id == id })
		if len(legs) == 0 {
			delete(r.legs, key)
		} else {
			r.legs[key] = legs
		}
	}
}

// comesBack reports whether a call from caller redirected from initial,
// with the Diversion numbers history, is one of our ringing legs
// forwarded back: its history is ours with more on top. Another caller
// with the same number diverted from the same line brings a history of
// its own, not ours grown.
func (r *ringing) comesBack(caller, initial string, history []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.legs[ringKey(caller, initial)] {
		if len(history) > len(l.history) && slices.Equal(history[len(history)-len(l.history):], l.history) {
			return true
		}
	}
	return false
}

// hasToTag reports whether a request is within a dialog: its To has a tag.
func hasToTag(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}
