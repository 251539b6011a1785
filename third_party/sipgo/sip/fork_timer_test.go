package sip

import (
	"log/slog"
	"net"
	"runtime"
	"testing"
)

// terminatingConn is a connection during whose write of a 2xx the
// transaction is terminated from another goroutine, as the caller's BYE
// handled while our 200 goes out does (Terminate's delete runs at once;
// the rest of it waits for the state machine the write is part of).
type terminatingConn struct {
	tx         *ServerTx
	terminated chan struct{}
}

func (c *terminatingConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
}
func (c *terminatingConn) WriteMsg(msg Message) error {
	if res, ok := msg.(*Response); ok && res.IsSuccess() {
		go func() {
			c.tx.Terminate()
			close(c.terminated)
		}()
		for {
			c.tx.mu.Lock()
			closed := c.tx.closed
			c.tx.mu.Unlock()
			if closed {
				return nil
			}
			runtime.Gosched()
		}
	}
	return nil
}
func (c *terminatingConn) Ref(i int) int          { return 1 }
func (c *terminatingConn) TryClose() (int, error) { return 0, nil }
func (c *terminatingConn) Close() error           { return nil }

// A transaction terminated while its 2xx was going out keeps no Timer L
// (nor its client twin Timer M): the timer, started after the terminate
// had stopped the others, held the ended transaction, its messages and
// what was registered on it for 64*T1 (the fork's third change).
func TestTerminatedWhileAcceptingKeepsNoTimerL(t *testing.T) {
	req := NewRequest(INVITE, Uri{Scheme: "sip", User: "5000", Host: "127.0.0.1", Port: 5060})
	via := NewParams()
	via.Add("branch", "z9hG4bK-fork-l")
	req.AppendHeader(&ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5070, Params: via})
	from := NewParams()
	from.Add("tag", "f")
	req.AppendHeader(&FromHeader{Address: Uri{Scheme: "sip", User: "a", Host: "127.0.0.1"}, Params: from})
	req.AppendHeader(&ToHeader{Address: Uri{Scheme: "sip", User: "5000", Host: "127.0.0.1"}, Params: NewParams()})
	callid := CallIDHeader("fork-l")
	req.AppendHeader(&callid)
	req.AppendHeader(&CSeqHeader{SeqNo: 1, MethodName: INVITE})
	key, err := ServerTxKeyMake(req)
	if err != nil {
		t.Fatal(err)
	}
	conn := &terminatingConn{terminated: make(chan struct{})}
	tx := NewServerTx(key, req, conn, slog.Default())
	conn.tx = tx
	if err := tx.Init(); err != nil {
		t.Fatal(err)
	}
	tx.Respond(NewResponseFromRequest(req, 200, "OK", nil))
	<-conn.terminated
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if !tx.closed {
		t.Fatal("the transaction was not terminated")
	}
	if tx.timer_l != nil {
		t.Fatal("Timer L runs on a terminated transaction")
	}
}
