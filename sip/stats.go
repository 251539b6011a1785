package sip

import (
	"sync/atomic"

	"github.com/phonediversions/phonediversions/media"
	"github.com/phonediversions/phonediversions/routing"
)

// Stats are the call counters the metrics endpoint reads.
type Stats struct {
	Calls    atomic.Uint64 // INVITEs that started a call
	Rejected atomic.Uint64 // INVITEs refused (403, 404, 482, 483, 503, …)
	ended    [len(outcomes)]atomic.Uint64
	// readWait is how long SIP datagrams waited in the UDP socket, from
	// the kernel's arrival stamp to the read (Linux).
	readWait media.Durations
}

// ReadWait returns how long SIP datagrams waited in the UDP socket before
// the node read them: from the kernel's stamp of their arrival to the
// read. A node short of CPU reads late, and every answer it sends (a 100
// Trying, a 503 for overload) is at least that late. Empty outside Linux
// and for TCP and TLS.
func (st *Stats) ReadWait() media.Histogram { return st.readWait.Snapshot() }

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
