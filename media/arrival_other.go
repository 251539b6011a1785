//go:build !linux

package media

import (
	"time"
)

// oobSize is room for control data; none is asked for here.
const oobSize = 0

// stampArrivals does nothing where the kernel's stamps are not used: an
// RTCP packet's arrival is the time it is read.
func stampArrivals(*udpSocket) {}

// arrival reports that there is no stamp.
func arrival([]byte) (time.Time, bool) { return time.Time{}, false }
