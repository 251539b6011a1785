package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"

	"github.com/phonediversions/phonediversions/audio"
)

// sendRig is n sending sockets, each with a peer, and the messages that
// send one packet from each to its peer.
type sendRig struct {
	fds     []int32
	senders []*rawSender
	peers   []netip.AddrPort
	msgs    []syscall.Msghdr
	iovs    []syscall.Iovec
	addrs   []syscall.RawSockaddrInet4
	pkt     []byte
	conns   []*net.UDPConn // peer, sender, peer, sender…
}

// newSendRig opens the sockets; peers keep what they get when keep, else
// their receive buffer is the smallest (what arrives is dropped).
func newSendRig(tb testing.TB, n int, keep bool) *sendRig {
	tb.Helper()
	sr := &sendRig{pkt: make([]byte, rtpHeaderLen+audio.FrameSamples), msgs: make([]syscall.Msghdr, n), iovs: make([]syscall.Iovec, n),
		addrs: make([]syscall.RawSockaddrInet4, n)}
	tb.Cleanup(func() {
		for _, c := range sr.conns {
			c.Close()
		}
	})
	for i := range n {
		recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		if keep {
			recv.SetReadBuffer(1 << 16)
		} else {
			recv.SetReadBuffer(1)
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		sr.conns = append(sr.conns, recv, c)
		rc, _ := c.SyscallConn()
		rc.Control(func(fd uintptr) { sr.fds = append(sr.fds, int32(fd)) })
		sr.senders = append(sr.senders, newRawSender(&udpSocket{fd: int(sr.fds[i])})) // c keeps the socket
		to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
		sr.peers = append(sr.peers, to)
		a := &sr.addrs[i]
		a.Family = syscall.AF_INET
		a.Addr = to.Addr().As4()
		p := to.Port()
		a.Port = p<<8 | p>>8 // network order
		sr.iovs[i] = syscall.Iovec{Base: &sr.pkt[0]}
		sr.iovs[i].SetLen(len(sr.pkt))
		sr.msgs[i] = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(a)), Namelen: syscall.SizeofSockaddrInet4, Iov: &sr.iovs[i], Iovlen: 1}
	}
	return sr
}

// The ring sends what it is given, from each socket to its peer, and
// reports each send's completion.
func TestURingSendDelivers(t *testing.T) {
	r, err := newURing(64)
	if err != nil {
		t.Skipf("io_uring not available here: %v", err)
	}
	defer r.close()
	sr := newSendRig(t, 8, true)
	copy(sr.pkt, "uring")
	for round := range 3 {
		seen := make([]int32, len(sr.fds))
		taken, err := r.sendmsgs(sr.fds, sr.msgs, func(i int, res int32) { seen[i] = res })
		if err != nil || taken != len(sr.fds) {
			t.Fatalf("round %d: %d of %d taken, %v", round, taken, len(sr.fds), err)
		}
		for i, res := range seen {
			if res != int32(len(sr.pkt)) {
				t.Fatalf("round %d: send %d completed with %d, want the %d bytes sent", round, i, res, len(sr.pkt))
			}
		}
		for i := 0; i < len(sr.conns); i += 2 {
			buf := make([]byte, 256)
			sr.conns[i].SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := sr.conns[i].ReadFromUDPAddrPort(buf)
			if err != nil || n != len(sr.pkt) || string(buf[:5]) != "uring" {
				t.Fatalf("round %d, peer %d: %d bytes %q, %v", round, i/2, n, buf[:min(n, 5)], err)
			}
			if want := sr.conns[i+1].LocalAddr().(*net.UDPAddr).AddrPort(); from.Port() != want.Port() {
				t.Fatalf("round %d, peer %d: from %v, want the sending socket %v", round, i/2, from, want)
			}
		}
	}
	// A send the kernel refuses completes with its error; the others go.
	fds := append([]int32{}, sr.fds[:3]...)
	fds[1] = -1
	seen := make([]int32, 3)
	if taken, err := r.sendmsgs(fds, sr.msgs[:3], func(i int, res int32) { seen[i] = res }); taken != 3 || err != nil {
		t.Fatalf("a bad descriptor among three: %d taken, %v", taken, err)
	}
	if seen[0] != int32(len(sr.pkt)) || seen[1] != -int32(syscall.EBADF) || seen[2] != int32(len(sr.pkt)) {
		t.Fatalf("completions %v, want %d, -EBADF, %d", seen, len(sr.pkt), len(sr.pkt))
	}
}

// BenchmarkBatchSend sends one packet from each of n sockets to its
// peer, as a pacer slot of n streams does: a sendto each, and one
// io_uring_enter for the n. ns/op is per packet; it decides batchFrom.
//
//	go test ./media/ -run '^$' -bench BatchSend -count 3
func BenchmarkBatchSend(b *testing.B) {
	r, err := newURing(batchSize)
	if err != nil {
		b.Skipf("io_uring not available here: %v", err)
	}
	defer r.close()
	for _, n := range []int{1, 2, 4, 8, 16, 128} {
		sr := newSendRig(b, n, false)
		b.Run(fmt.Sprintf("sendto/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				for i, s := range sr.senders {
					s.send(sr.pkt, sr.peers[i])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
		})
		b.Run(fmt.Sprintf("io_uring/n=%d", n), func(b *testing.B) {
			done := func(int, int32) {}
			for b.Loop() {
				if _, err := r.sendmsgs(sr.fds, sr.msgs, done); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
		})
	}
}

// batchEngine is an engine with one shard whose pacer batches, or skips
// the test where the kernel gives no ring.
func batchEngine(t *testing.T) *Engine {
	t.Helper()
	e := testEngine(t)
	if e.shards[0].batch == nil {
		_, err := newURing(batchSize)
		t.Skipf("io_uring not available here: %v", err)
	}
	return e
}

// playTo plays the built-in tone's frames in a loop on n legs, each to a
// peer of its own, all started together (so they share a pacer slot).
func playTo(t *testing.T, e *Engine, n int) ([]*net.UDPConn, []*Leg, []*Stream) {
	t.Helper()
	frames := RingbackEurope().Frames(audio.PCMU)
	var peers []*net.UDPConn
	var legs []*Leg
	for range n {
		c, addr := sinkConn(t)
		c.SetReadBuffer(1 << 20)
		l, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU}, Peer: addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		peers, legs = append(peers, c), append(legs, l)
	}
	var streams []*Stream
	for _, l := range legs {
		streams = append(streams, e.Play(l, frames, true))
	}
	return peers, legs, streams
}

// readStream reads count RTP packets from c and checks they are one
// stream from the leg's port with no packet missing.
func readStream(t *testing.T, c *net.UDPConn, from int, count int) {
	t.Helper()
	buf := make([]byte, 2048)
	var last uint16
	for got := 0; got < count; {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d of %d: %v", got, count, err)
		}
		if n > 1 && buf[1] >= 200 && buf[1] <= 204 {
			continue // an RTCP report
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("packet %d of %d: not RTP: %v", got, count, err)
		}
		if int(src.Port()) != from {
			t.Fatalf("packet from port %d, want the leg's %d", src.Port(), from)
		}
		if got > 0 && p.SequenceNumber != last+1 {
			t.Fatalf("sequence %d after %d: a packet is missing", p.SequenceNumber, last)
		}
		if len(p.Payload) != audio.FrameSamples {
			t.Fatalf("payload of %d bytes, want a frame of %d", len(p.Payload), audio.FrameSamples)
		}
		last = p.SequenceNumber
		got++
	}
}

// A slot of streams goes out in io_uring batches: every peer gets its
// stream whole, from its leg's port, and the engine counts the packets
// as batched, and each one's lateness once.
func TestPacerSendsInBatches(t *testing.T) {
	e := batchEngine(t)
	peers, legs, streams := playTo(t, e, 2*batchFrom)
	for i, c := range peers {
		readStream(t, c, legs[i].Port(), 25)
	}
	for _, st := range streams {
		st.Stop()
	}
	s := e.Stats()
	// The lateness histogram holds each packet once, batched or not.
	if paced, _ := e.Pacing(0); paced != s.PacketsSent {
		t.Fatalf("%d packets sent, %d in the lateness histogram", s.PacketsSent, paced)
	}
	if s.BatchedPackets == 0 || s.SendErrors != 0 {
		t.Fatalf("%d packets sent, %d of them batched, %d send errors: want batches and no error", s.PacketsSent, s.BatchedPackets, s.SendErrors)
	}
	if s.BatchedPackets > s.PacketsSent {
		t.Fatalf("%d packets batched of %d sent", s.BatchedPackets, s.PacketsSent)
	}
}

// With OneSendEach, or a slot of fewer streams than batchFrom, nothing
// is batched.
func TestFewStreamsOrOneSendEachAreNotBatched(t *testing.T) {
	t.Run("one send each", func(t *testing.T) {
		e, err := New(Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 40000, PortMax: 49998, Shards: 1, OneSendEach: true})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		peers, legs, _ := playTo(t, e, 2*batchFrom)
		for i, c := range peers {
			readStream(t, c, legs[i].Port(), 10)
		}
		if s := e.Stats(); s.BatchedPackets != 0 || s.PacketsSent == 0 {
			t.Fatalf("%d packets sent, %d batched: want none batched", s.PacketsSent, s.BatchedPackets)
		}
	})
	t.Run("few streams", func(t *testing.T) {
		e := batchEngine(t)
		peers, legs, _ := playTo(t, e, batchFrom-1)
		for i, c := range peers {
			readStream(t, c, legs[i].Port(), 10)
		}
		if s := e.Stats(); s.BatchedPackets != 0 {
			t.Fatalf("%d packets batched for a slot of %d streams", s.BatchedPackets, batchFrom-1)
		}
	})
}

// A ring that stops working (here: its descriptor taken away) loses no
// packet: what the batch held goes out with a sendto each, and the
// shard sends that way from then on.
func TestBrokenRingFallsBackToSendto(t *testing.T) {
	e := batchEngine(t)
	sh := e.shards[0]
	ringFD := sh.batch.ring.fd
	t.Cleanup(func() { syscall.Close(ringFD) })
	sh.batch.ring.fd = -1 // before any stream: the shard's goroutine sees it through Play
	peers, legs, _ := playTo(t, e, 2*batchFrom)
	for i, c := range peers {
		readStream(t, c, legs[i].Port(), 25)
	}
	s := e.Stats()
	e.Close()
	if sh.batch != nil || s.BatchedPackets != 0 || s.SendErrors != 0 {
		t.Fatalf("after the ring failed: batch kept %v, %d packets batched, %d send errors", sh.batch != nil, s.BatchedPackets, s.SendErrors)
	}
}

// Legs closed and opened while a batching pacer sends (the kernel hands
// a closed socket's number to the next one opened): every packet a peer
// gets comes from the port of a leg that was sending to it, never from
// another leg's socket that took a closed one's descriptor while its
// packet waited in a batch.
//
// The engine's ports go round a range wider than the legs the test opens,
// so no port serves two legs and a packet's source port names its leg.
func TestClosedLegsPacketsLeaveNoOtherSocket(t *testing.T) {
	e, err := New(Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 20000, PortMax: 59999, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if e.shards[0].batch == nil {
		_, err := newURing(batchSize)
		t.Skipf("io_uring not available here: %v", err)
	}
	legs, churn := 800, 12000 // < the 20,000 port pairs
	if raceOn {
		churn = 4000 // each close and open costs several times more
	}
	const peers = 4
	frames := RingbackEurope().Frames(audio.PCMU)
	var mu sync.Mutex
	owners := map[int]int{} // leg port → peer
	var conns []*net.UDPConn
	var wg sync.WaitGroup
	wrong := make(chan string, 1)
	for p := range peers {
		c, _ := sinkConn(t)
		c.SetReadBuffer(4 << 20)
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				n, src, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if n < rtpHeaderLen || buf[1] >= 200 && buf[1] <= 204 {
					continue
				}
				mu.Lock()
				owner, ok := owners[int(src.Port())]
				mu.Unlock()
				if !ok || owner != p {
					select {
					case wrong <- fmt.Sprintf("peer %d got a packet from port %d, a leg sending to peer %d (known: %v)", p, src.Port(), owner, ok):
					default:
					}
				}
			}
		}()
	}
	type playing struct {
		l *Leg
		s *Stream
	}
	var live []playing
	open := func(i int) {
		p := i % peers
		l, err := e.NewLeg(LegConfig{Format: Format{Codec: audio.PCMU}, Peer: conns[p].LocalAddr().(*net.UDPAddr).AddrPort()})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		owners[l.Port()] = p
		mu.Unlock()
		live = append(live, playing{l, e.Play(l, frames, true)})
	}
	for i := range legs { // 40 a slot: batches of 40
		open(i)
	}
	before := e.Stats().BatchedPackets
	for i := range churn {
		// Close the oldest while it plays (Stop after), open another
		// towards the next peer: it likely gets the closed socket's number.
		old := live[0]
		live = live[1:]
		old.l.Close()
		open(i + 1)
		old.s.Stop()
	}
	for _, p := range live {
		p.s.Stop()
		p.l.Close()
	}
	if e.Stats().BatchedPackets == before {
		t.Fatal("no packet was batched while legs closed: the test did not test")
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // the last packets in flight
	}
	wg.Wait()
	select {
	case w := <-wrong:
		t.Fatal(w)
	default:
	}
}
