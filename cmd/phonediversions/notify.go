package main

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// notifier tells systemd how the service stands (sd_notify(3)): a
// datagram "READY=1" once it serves, "STOPPING=1" when it begins to
// stop, "WATCHDOG=1" at half the watchdog interval while it is alive.
// It speaks the protocol itself, over the socket systemd names in
// $NOTIFY_SOCKET; without one (not started by systemd, or not a
// Type=notify unit) it does nothing.
type notifier struct {
	conn *net.UnixConn
	// watchdog is the unit's WatchdogSec (0: none asked).
	watchdog time.Duration
}

// newNotifier reads $NOTIFY_SOCKET and $WATCHDOG_USEC. Errors: a socket
// that is named but cannot be reached.
func newNotifier(getenv func(string) string) (*notifier, error) {
	path := getenv("NOTIFY_SOCKET")
	if path == "" {
		return &notifier{}, nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, errors.New("NOTIFY_SOCKET is neither a path nor an abstract socket name")
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	n := &notifier{conn: conn}
	if us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		if pid := getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	return n, nil
}

// send sends one state line; nothing without a socket.
func (n *notifier) send(state string) error {
	if n.conn == nil {
		return nil
	}
	_, err := n.conn.Write([]byte(state))
	return err
}

// keepAlive sends WATCHDOG=1 at half the watchdog interval while alive
// answers within that half, until ctx ends. A process whose call handler
// or media engine hangs stops answering, and systemd restarts it.
func (n *notifier) keepAlive(ctx context.Context, alive func(context.Context) bool) {
	if n.conn == nil || n.watchdog <= 0 {
		return
	}
	every := n.watchdog / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		check, cancel := context.WithTimeout(ctx, every)
		ok := alive(check)
		cancel()
		if ok {
			n.send("WATCHDOG=1")
		}
	}
}

// close closes the socket.
func (n *notifier) close() {
	if n.conn != nil {
		n.conn.Close()
	}
}
