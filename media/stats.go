package media

import (
	"sync/atomic"
	"time"
)

// Histogram resolution: 100 µs buckets up to 100 ms, then one overflow bucket.
const (
	histBucket  = 100 * time.Microsecond
	histBuckets = 1000
)

// histogram counts durations; safe for concurrent use.
type histogram struct {
	counts [histBuckets + 1]atomic.Uint64
	max    atomic.Int64
}

// observe records d.
func (h *histogram) observe(d time.Duration) { h.observeN(d, 1) }

// observeN records n values of d.
func (h *histogram) observeN(d time.Duration, n uint64) {
	if d < 0 {
		d = 0
	}
	i := int(d / histBucket)
	if i > histBuckets {
		i = histBuckets
	}
	h.counts[i].Add(n)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// addTo adds the counts to a snapshot.
func (h *histogram) addTo(s *Histogram) {
	if s.Counts == nil {
		s.Counts = make([]uint64, histBuckets+1)
		s.Bucket = histBucket
	}
	for i := range h.counts {
		s.Counts[i] += h.counts[i].Load()
	}
	if m := time.Duration(h.max.Load()); m > s.Max {
		s.Max = m
	}
}

// Durations counts durations for another part of the program with the
// engine's resolution (100 µs buckets up to 100 ms); safe for concurrent
// use. The zero value is ready.
type Durations struct{ h histogram }

// Observe records x (a negative x as 0).
func (d *Durations) Observe(x time.Duration) { d.h.observe(x) }

// Snapshot returns the durations recorded so far.
func (d *Durations) Snapshot() Histogram {
	var s Histogram
	d.h.addTo(&s)
	return s
}

// Histogram is a snapshot of a duration distribution: Counts[i] holds the
// durations in [i·Bucket, (i+1)·Bucket); the last one everything beyond.
type Histogram struct {
	Bucket time.Duration
	Counts []uint64
	Max    time.Duration
}

// Total returns the number of observations.
func (h Histogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns the upper edge of the bucket holding quantile q (0–1),
// so it errs high by at most one bucket; the maximum for the overflow.
func (h Histogram) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(q * float64(total))
	if rank >= total {
		rank = total - 1
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen > rank {
			if i == len(h.Counts)-1 {
				return h.Max
			}
			return min(time.Duration(i+1)*h.Bucket, h.Max)
		}
	}
	return h.Max
}

// Sub returns the observations of h not in earlier, an older snapshot of
// the same histogram (Max stays h's).
func (h Histogram) Sub(earlier Histogram) Histogram {
	out := Histogram{Bucket: h.Bucket, Counts: append([]uint64(nil), h.Counts...), Max: h.Max}
	for i := range earlier.Counts {
		out.Counts[i] -= earlier.Counts[i]
	}
	return out
}

// counters are the engine's running totals.
type counters struct {
	sent, received, late, skipped, dropped, sendErrors, timeouts atomic.Uint64
	rtcpSent, rtcpReceived, dtmfDropped, wakeups, batched        atomic.Uint64
	streams, legs                                                atomic.Int64
	relayDelay                                                   histogram
}

// Stats is a snapshot of the engine's counters, read by the metrics
// endpoint and the benchmarks.
type Stats struct {
	PacketsSent     uint64 // RTP packets written (announcements, tones, relay)
	PacketsReceived uint64 // RTP packets read from peers
	LatePackets     uint64 // announcement packets sent more than LateAfter after their deadline
	SkippedFrames   uint64 // frames skipped because a stream fell more than 3 frames behind or missed a deadline (its shard woke a period late)
	DroppedPackets  uint64 // packets read and not relayed: malformed, unknown payload type, stray source
	SendErrors      uint64 // writes the socket refused
	MediaTimeouts   uint64 // legs reported silent
	RTCPSent        uint64 // RTCP reports sent
	RTCPReceived    uint64 // RTCP packets taken from peers
	DTMFDropped     uint64 // telephone events not relayed: the other leg negotiated none
	PacerWakeups    uint64 // times a pacer goroutine woke to send
	BatchedPackets  uint64 // packets of PacketsSent handed to the kernel in io_uring batches, not a sendto each
	ActiveStreams   int64  // announcement and tone streams playing
	ActiveLegs      int64  // legs open
	// Lateness is the send time of announcement packets against their deadline.
	Lateness Histogram
	// RelayDelay is the time from reading a packet to writing it on the other leg.
	RelayDelay Histogram
}
