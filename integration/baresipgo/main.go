// Command baresipgo is the call-cost benchmark's bare SIP stack: an
// answering server on sipgo alone, built the way the product uses it (a
// dialog per INVITE, the handler living as long as the call), that
// answers each INVITE 200 with an SDP, waits for the ACK, and hangs up
// with BYE after the announcement's length. No media, no routing, no
// report, no log: what the SIP stack costs apart from everything the
// product adds (integration/cost_test.go runs it as the server
// "sipgo-bare").
//
//	baresipgo -listen 127.0.0.1:5060 -hold 3s
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5060", "UDP address to answer on")
	hold := flag.Duration("hold", 3*time.Second, "how long a call lasts before the BYE")
	flag.Parse()
	if err := run(*listen, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "baresipgo:", err)
		os.Exit(1)
	}
}

func run(listen string, hold time.Duration) error {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	sip.SetDefaultLogger(quiet)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname(host))
	if err != nil {
		return err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		return err
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(listen), sipgo.WithClientLogger(quiet))
	if err != nil {
		return err
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: port}}
	dialogs := sipgo.NewDialogServerCache(client, contact)
	// The SDP answer: PCMU to a port nobody reads (no media is sent).
	sdp := []byte("v=0\r\no=- 1 1 IN IP4 " + host + "\r\ns=-\r\nc=IN IP4 " + host + "\r\nt=0 0\r\n" +
		"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		dlg, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			return
		}
		defer dlg.Close()
		if err := dlg.RespondSDP(sdp); err != nil {
			return
		}
		select {
		case <-time.After(hold):
		case <-dlg.Context().Done():
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dlg.Bye(ctx)
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)) // up: the benchmark waits for it
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { dialogs.ReadBye(req, tx) })
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.ListenAndServe(ctx, "udp", listen)
}
