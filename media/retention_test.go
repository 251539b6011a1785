package media

import (
	"runtime"
	"testing"
	"time"
	"weak"
)

// TestStoppedStreamsAreFreed stops streams at once, most before the pacer
// placed them: once Done, neither they nor their legs stay reachable (the
// list of streams to place kept the stopped ones, and through their legs'
// timeout callbacks whole calls).
func TestStoppedStreamsAreFreed(t *testing.T) {
	e := testEngine(t)
	_, peer := sinkConn(t)
	frames := [][]byte{make([]byte, 160), make([]byte, 160)}
	var streams []weak.Pointer[Stream]
	var legs []weak.Pointer[Leg]
	for range 20 {
		l, err := e.NewLeg(LegConfig{Peer: peer})
		if err != nil {
			t.Fatal(err)
		}
		s := e.Play(l, frames, true)
		s.Stop()
		<-s.Done()
		l.Close()
		streams, legs = append(streams, weak.Make(s)), append(legs, weak.Make(l))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		runtime.GC()
		alive := 0
		for i := range streams {
			if streams[i].Value() != nil || legs[i].Value() != nil {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 20 stopped streams or their legs still reachable", alive)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
