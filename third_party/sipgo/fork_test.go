package sipgo

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// endedTx is a client transaction that has ended: Done is closed, and Err
// is what the transaction recorded (nil in the moment between Terminate
// closing Done and recording its error).
type endedTx struct {
	sip.ClientTransaction
	err  error
	done chan struct{}
}

func (t endedTx) Done() <-chan struct{} { return t.done }
func (t endedTx) Err() error            { return t.err }

// A transaction that ended without a final response is an error for
// whoever waited on it, even when it has not recorded one yet: Do used to
// return no response and no error, and CANCEL's caller then read the
// missing response's status (a nil dereference at shutdown).
func TestEndedTransactionIsAnError(t *testing.T) {
	done := make(chan struct{})
	close(done)
	timeout := errors.New("timer F")
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"error recorded", timeout, timeout},
		{"terminated, error not recorded yet", nil, sip.ErrTransactionTerminated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := endedErr(endedTx{err: c.err, done: done}); !errors.Is(got, c.want) {
				t.Errorf("endedErr = %v, want %v", got, c.want)
			}
		})
	}
}

// acceptingTx is a server transaction that takes the functions a dialog
// registers on it.
type acceptingTx struct{ sip.ServerTransaction }

func (acceptingTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (acceptingTx) OnTerminate(sip.FnTxTerminate) bool { return true }

// ReadInvite puts its To tag on a copy of the INVITE: the request the
// transaction holds stays as received, and the copy shares every other
// header with it rather than holding a second parsed INVITE for the
// dialog's life.
func TestReadInviteCopiesOnlyTo(t *testing.T) {
	const text = "INVITE sip:201@192.0.2.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1\r\n" +
		"From: \"Alice\" <sip:100@192.0.2.9>;tag=a1\r\n" +
		"To: <sip:201@192.0.2.1>\r\n" +
		"Call-ID: c1@192.0.2.9\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@192.0.2.9:5060>\r\n" +
		"Record-Route: <sip:192.0.2.5;lr>\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: 4\r\n\r\nv=0\n"
	msg, err := sip.ParseMessage([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	ua := &DialogUA{}
	dlg, err := ua.ReadInvite(req, acceptingTx{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := req.To().Params.Get("tag"); ok {
		t.Errorf("the transaction's INVITE got a To tag: %s", req.To().Value())
	}
	tag, ok := dlg.InviteRequest.To().Params.Get("tag")
	if !ok || tag == "" {
		t.Fatalf("the dialog's INVITE has no To tag: %s", dlg.InviteRequest.To().Value())
	}
	want := strings.Replace(text, "To: <sip:201@192.0.2.1>\r\n", "To: <sip:201@192.0.2.1>;tag="+tag+"\r\n", 1)
	if got := dlg.InviteRequest.String(); got != want {
		t.Errorf("the dialog's INVITE reads\n%q\nwant\n%q", got, want)
	}
	if got := req.String(); got != text {
		t.Errorf("the transaction's INVITE reads\n%q\nwant it as received\n%q", got, text)
	}
	for _, name := range []string{"From", "Via", "Call-ID", "Contact", "Record-Route"} {
		if dlg.InviteRequest.GetHeader(name) != req.GetHeader(name) {
			t.Errorf("%s is a copy, want the INVITE's own", name)
		}
	}
}

// countingTx is a server transaction that counts its terminations.
type countingTx struct {
	acceptingTx
	terminated atomic.Int32
	done       chan struct{}
}

func (t *countingTx) Terminate()            { t.terminated.Add(1) }
func (t *countingTx) Done() <-chan struct{} { return t.done }

// TerminateInvite ends the INVITE's transaction once and lets the dialog
// forget it, so that a call in progress does not keep the transaction,
// its INVITE as received and its responses: the transaction is collected
// while the dialog lives on, and the BYEs that follow have nothing left
// to terminate.
func TestTerminateInviteLetsTheTransactionGo(t *testing.T) {
	msg, err := sip.ParseMessage([]byte("INVITE sip:201@192.0.2.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-2\r\n" +
		"From: <sip:100@192.0.2.9>;tag=a2\r\nTo: <sip:201@192.0.2.1>\r\n" +
		"Call-ID: c2@192.0.2.9\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@192.0.2.9:5060>\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	tx := &countingTx{done: make(chan struct{})}
	terminated := &tx.terminated
	dlg, err := (&DialogUA{}).ReadInvite(msg.(*sip.Request), tx)
	if err != nil {
		t.Fatal(err)
	}
	collected := make(chan struct{})
	runtime.AddCleanup(tx, func(c chan struct{}) { close(c) }, collected)
	tx = nil

	dlg.TerminateInvite()
	dlg.TerminateInvite()
	if n := terminated.Load(); n != 1 {
		t.Fatalf("the transaction was terminated %d times, want once", n)
	}
	for i := 0; ; i++ {
		runtime.GC()
		select {
		case <-collected:
		default:
			if i == 100 {
				t.Fatal("the dialog still holds its INVITE transaction after 100 collections")
			}
			continue
		}
		break
	}
	if err := dlg.WriteResponse(sip.NewResponseFromRequest(dlg.InviteRequest, 180, "Ringing", nil)); !errors.Is(err, sip.ErrTransactionTerminated) {
		t.Errorf("a response after the transaction ended: %v, want %v", err, sip.ErrTransactionTerminated)
	}
	runtime.KeepAlive(dlg)
}
