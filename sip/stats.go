package sip

import (
	"sync/atomic"

	"github.com/phonediversions/phonediversions/routing"
)

// Stats are the call counters the metrics endpoint reads.
type Stats struct {
	Calls    atomic.Uint64 // INVITEs that started a call
	Rejected atomic.Uint64 // INVITEs refused (403, 404, 482, 483, 503, …)
	ended    [len(outcomes)]atomic.Uint64
}

// outcomes are the report statuses a handled call ends with.
var outcomes = [...]routing.Status{routing.StatusConnected, routing.StatusDirectAccess, routing.StatusTerminated,
	routing.StatusBusy, routing.StatusNoAnswer, routing.StatusFailed, routing.StatusCancelled}

// countEnded counts a call that ended with the status.
func (st *Stats) countEnded(status routing.Status) {
	for i, o := range outcomes {
		if o == status {
			st.ended[i].Add(1)
			return
		}
	}
}

// Ended returns how many calls ended with each outcome.
func (st *Stats) Ended() map[routing.Status]uint64 {
	out := make(map[routing.Status]uint64, len(outcomes))
	for i, o := range outcomes {
		out[o] = st.ended[i].Load()
	}
	return out
}
