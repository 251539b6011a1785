package admin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/phonediversions/phonediversions/routing"
)

// BenchmarkListGroups1000 answers listGroups of 1,000 groups in process
// (no network), XML and JSON.
func BenchmarkListGroups1000(b *testing.B) {
	f := newFixture(b)
	for i := range 1000 {
		if _, err := f.svc.CreateGroup(ctx, admin0, routing.ChannelWeb, routing.Group{Name: fmt.Sprintf("Team %04d", i),
			Destination: strconv.Itoa(10000 + i), Description: "Diversion of team " + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	h := f.srv.Handler()
	for _, format := range []string{"xml", "json"} {
		b.Run(format, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/Rest/listGroups?format="+format, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
				b.SetBytes(int64(w.Body.Len()))
			}
		})
	}
}
