package routingtest

import (
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
)

// Proxy stands between a node and its PostgreSQL server, so that a test
// can take the server away from the node and give it back, as a network
// that fails would: Cut ends every connection and refuses new ones,
// Restore lets them through again.
type Proxy struct {
	// URL is the database's URL through the proxy.
	URL string

	t        testing.TB
	upstream func() (net.Conn, error)
	l        net.Listener
	mu       sync.Mutex
	cut      bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// PostgresProxy returns a proxy on a loopback port to the database at
// dbURL (its server reached by TCP or by a Unix socket, as the URL
// says); it stops when the test ends.
func PostgresProxy(t testing.TB, dbURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	network, addr := "tcp", u.Host
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	if h := q.Get("host"); filepath.IsAbs(h) {
		network, addr = "unix", filepath.Join(h, ".s.PGSQL."+port)
	} else if h != "" {
		addr = net.JoinHostPort(h, port)
	} else if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	q.Del("host")
	q.Del("port")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pu := *u
	pu.Host = l.Addr().String()
	pu.RawQuery = q.Encode()
	p := &Proxy{URL: pu.String(), t: t, l: l, conns: map[net.Conn]struct{}{},
		upstream: func() (net.Conn, error) { return net.Dial(network, addr) }}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Cut ends every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refused := p.cut
		p.mu.Unlock()
		if refused {
			c.Close()
			continue
		}
		up, err := p.upstream()
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut { // cut while this one was being connected
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies from one side to the other until either ends, then ends
// both.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
