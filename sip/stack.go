package sip

import (
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// This file holds what the SIP stack (sipgo 1.7.3) needs done around a
// call that its API does not do, each for a reason written beside it.

// Why a call ended, as its context's cause.
var (
	errCallerGone   = errors.New("the caller hung up")
	errFarGone      = errors.New("the far party hung up")
	errMediaTimeout = errors.New("no media from a party")
	errShutdown     = errors.New("the server is stopping")
)

// adoptTag puts the To tag of our dialog on the INVITE as received. The
// transaction answers a CANCEL with its own 487, built from that request:
// without our tag it would carry a new one, unlike the 180 and 183 before
// it (RFC 3261 8.2.6.2: one tag for every response to a request). It is
// called before the first provisional response, and a caller may send
// CANCEL only after one (RFC 3261 9.1).
func adoptTag(req *sip.Request, dlg *sipgo.DialogServerSession) {
	tag, ok := dlg.InviteRequest.To().Params.Get("tag")
	if to := req.To(); ok && to != nil && !to.Params.Has("tag") {
		to.Params.Add("tag", tag)
	}
}

// errNoAck is the end of a 2xx that was never acknowledged.
var errNoAck = errors.New("no ACK for the 200")

// sendAccepted sends a 2xx to an INVITE through its transaction and
// retransmits it (RFC 3261 13.3.1.4, RFC 6026: from T1, doubling up to T2)
// until acked is closed, for at most 64·T1 (errNoAck). Through the
// transaction, because a CANCEL that crosses the 2xx must find the
// transaction accepted: it then gets its 200 and the INVITE stays
// answered (RFC 3261 9.2), where a transaction still proceeding would
// answer the CANCEL with 487 after our 200. ended stops the wait (the
// call ended meanwhile) with its error.
func sendAccepted(tx sip.ServerTransaction, res *sip.Response, acked <-chan struct{}, ended <-chan struct{}, cause func() error) error {
	if err := tx.Respond(res); err != nil {
		return err
	}
	if errors.Is(tx.Err(), sip.ErrTransactionCanceled) {
		return errCallerGone // the CANCEL came first: the 487 went out
	}
	interval, waited := sip.T1, time.Duration(0)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-acked:
			return nil
		case <-ended:
			select {
			case <-acked: // the ACK came just before the BYE: the call was answered
				return nil
			default:
				return cause()
			}
		case <-timer.C:
			waited += interval
			if waited >= 64*sip.T1 {
				return errNoAck
			}
			if err := tx.Respond(res); err != nil {
				return err
			}
			interval = min(2*interval, sip.T2)
			timer.Reset(interval)
		}
	}
}

// hangUpUnacked sends BYE on a dialog whose 2xx was never acknowledged
// (RFC 3261 13.3.1.4). sipgo's Bye will not: it waits for the ACK, and
// once the INVITE transaction ends it counts the dialog as never
// established. The BYE is sent as any request of the dialog.
func hangUpUnacked(ctx context.Context, dlg *sipgo.DialogServerSession, transport string, headers ...sip.Header) error {
	bye := sip.NewRequest(sip.BYE, dlg.InviteRequest.Contact().Address)
	bye.SetTransport(transport)
	for _, h := range headers {
		bye.AppendHeader(h)
	}
	tx, err := dlg.TransactionRequest(ctx, bye)
	if err != nil {
		return err
	}
	defer tx.Terminate()
	select {
	case res := <-tx.Responses():
		if !res.IsSuccess() {
			return &sipgo.ErrDialogResponse{Res: res}
		}
		return nil
	case <-tx.Done():
		return tx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}
