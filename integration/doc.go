// Package integration holds the tests that run the whole product against
// real peers: SIPp as the caller and as the far party, with tshark
// capturing the RTP on loopback, and the load benchmark script. The tests
// need the sipp and tshark commands (Debian packages sip-tester and
// tshark); .ci/run installs them.
package integration
