package sipgo

import (
	"errors"
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
