package admin

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// clientAddr is the address of the connection's peer. It never comes from
// a header: X-Forwarded-For and its kind are anybody's to write.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// isLocalHost reports whether a is the local host's own address as the
// local exemption means it: 127.0.0.1 or ::1, not the rest of 127/8.
func isLocalHost(a netip.Addr) bool {
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback()
}

// Networks is a set of IP networks.
type Networks []netip.Prefix

// Contains reports whether a is in one of the networks.
func (ns Networks) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range ns {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Everyone is the networks of every address.
var Everyone = Networks{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// PublicURL returns the absolute URL of a path on this server.
func (s *Server) PublicURL(path string, query url.Values) string {
	u := *s.cfg.PublicURL
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	return u.String()
}
