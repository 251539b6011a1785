package media

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"
)

// Config configures an Engine.
type Config struct {
	// IP is the address RTP sockets bind to.
	IP netip.Addr
	// PortMin and PortMax bound the RTP ports; only even ports are used.
	PortMin, PortMax int
	// Shards is the number of pacer goroutines; 0 means 2×GOMAXPROCS.
	Shards int
	// LateAfter is the lateness from which an announcement packet counts
	// as late; 0 means 5 ms.
	LateAfter time.Duration
	// ReportInterval is how often a leg sends an RTCP report; 0 means 5 s
	// (RFC 3550 6.2).
	ReportInterval time.Duration
	// OneSendEach makes the pacer send every packet with a system call of
	// its own even where the kernel offers io_uring batches.
	OneSendEach bool
}

// Engine owns the RTP ports, the pacer goroutines, the reader of every
// leg's packets, the legs' timers and the counters.
type Engine struct {
	ports  *Ports
	reader *reader
	timers *timers
	report time.Duration // RTCP report interval
	shards []*shard
	stats  counters
	tc     transcoders
	t0     time.Time
	stop   chan struct{}
	// sendMu is held for reading while a batch holds queued packets
	// (their sockets' descriptors), for writing while a leg closes its
	// sockets: no batch submits a descriptor closed and perhaps reused.
	sendMu   sync.RWMutex
	batchErr error // why the pacer sends without io_uring batches
	// packets holds buffers to build a packet in when it does not go
	// into a batch: a buffer is needed only during the send, so legs
	// share a few instead of keeping one each.
	packets   sync.Pool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts an engine. Errors: an unusable port range.
func New(cfg Config) (*Engine, error) {
	if !cfg.IP.IsValid() {
		return nil, fmt.Errorf("media: no IP address to bind RTP to")
	}
	ports, err := NewPorts(cfg.IP, cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, err
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = 5 * time.Millisecond
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 5 * time.Second
	}
	rd, err := newReader()
	if err != nil {
		return nil, err
	}
	e := &Engine{ports: ports, reader: rd, report: cfg.ReportInterval, tc: newTranscoders(), t0: time.Now(), stop: make(chan struct{})}
	e.packets.New = func() any { return new([maxPacket]byte) }
	e.timers = newTimers(e)
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		rd.run()
	}()
	go func() {
		defer e.wg.Done()
		e.timers.run(e.stop)
	}()
	for i := 0; i < cfg.Shards; i++ {
		sh := &shard{e: e, kick: make(chan struct{}, 1), lateAt: cfg.LateAfter}
		if !cfg.OneSendEach && e.batchErr == nil {
			// nil where the kernel gives no ring: a sendto each
			sh.batch, e.batchErr = newBatch(e)
		}
		e.shards = append(e.shards, sh)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			sh.run(e.stop)
		}()
	}
	return e, nil
}

// BatchError says why the pacer sends a packet per system call instead
// of io_uring batches (the kernel refused a ring); nil when it batches,
// or when Config.OneSendEach asked for no batches.
func (e *Engine) BatchError() error { return e.batchErr }

// now is the engine's monotonic clock.
func (e *Engine) now() time.Duration { return time.Since(e.t0) }

// Elapsed is the engine's clock: the time since it started, as taps
// (Leg.SetTap) stamp packets.
func (e *Engine) Elapsed() time.Duration { return e.now() }

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{
		PacketsSent:     c.sent.Load(),
		PacketsReceived: c.received.Load(),
		LatePackets:     c.late.Load(),
		SkippedFrames:   c.skipped.Load(),
		DroppedPackets:  c.dropped.Load(),
		SendErrors:      c.sendErrors.Load(),
		MediaTimeouts:   c.timeouts.Load(),
		RTCPSent:        c.rtcpSent.Load(),
		RTCPReceived:    c.rtcpReceived.Load(),
		DTMFDropped:     c.dtmfDropped.Load(),
		PacerWakeups:    c.wakeups.Load(),
		BatchedPackets:  c.batched.Load(),
		ActiveStreams:   c.streams.Load(),
		ActiveLegs:      c.legs.Load(),
	}
	for _, sh := range e.shards {
		sh.lateness.addTo(&s.Lateness)
	}
	c.relayDelay.addTo(&s.RelayDelay)
	return s
}

// Pacing returns how many announcement and tone packets the pacer has
// sent, and how many of them bound or more after their deadline (to the
// histogram's 0.1 ms), for the overload control to read often: it
// copies no histogram.
func (e *Engine) Pacing(bound time.Duration) (sent, late uint64) {
	from := min(max(int(bound/histBucket), 0), histBuckets)
	for _, sh := range e.shards {
		for i := range sh.lateness.counts {
			n := sh.lateness.counts[i].Load()
			sent += n
			if i >= from {
				late += n
			}
		}
	}
	return sent, late
}

// Close stops the pacer, the reader and the timers; streams still playing
// end (Done closes). Legs are closed by their owners.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		close(e.stop)
		e.reader.close()
		e.wg.Wait()
	})
}
