package routing_test

import (
	"testing"
	"time"

	"github.com/phonediversions/phonediversions/routing"
)

// TestUnknownUserTakesAsLongAsWrongPassword signs in at the production
// password cost: an unknown username is answered no faster than a wrong
// password, so the answer's time does not tell which usernames exist.
func TestUnknownUserTakesAsLongAsWrongPassword(t *testing.T) {
	eachStore(t, func(t *testing.T) {
		f := newFixture(t)
		svc := routing.NewService(f.db) // the default cost
		if _, err := svc.CreateUser(ctx, admin, routing.ChannelWeb, routing.NewUser{Username: "reception", Password: "front-desk-1"}); err != nil {
			t.Fatal(err)
		}
		svc.Authenticate(ctx, "nobody", "x") // the first call makes the comparison hash
		timeOf := func(user string) time.Duration {
			start := time.Now()
			if _, err := svc.Authenticate(ctx, user, "wrong-password"); routing.ErrorCode(err) != routing.EUNAUTHORIZED {
				t.Fatalf("%s: %v", user, err)
			}
			return time.Since(start)
		}
		var known, unknown time.Duration
		for range 3 {
			known += timeOf("reception")
			unknown += timeOf("nobody")
		}
		t.Logf("3 sign-ins: %v with a known username, %v with an unknown one", known, unknown)
		if unknown < known/2 {
			t.Errorf("an unknown username is answered in %v, a wrong password in %v", unknown, known)
		}
	})
}
