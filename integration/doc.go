// Package integration holds the tests that run the whole product against
// real peers, as its users and the systems around it would:
//
//   - SIPp as the caller and as the far party (sipp_test.go), with tshark
//     capturing the RTP on loopback when it may;
//   - baresip behind kamailio, the PBX that forwards a line to the product
//     (baresip_test.go);
//   - headless chromium driving the web page (browser_test.go,
//     browser_schedule_test.go), and pages of another origin trying its
//     doors (attack_test.go);
//   - curl running every example of docs/rest.md (docs_test.go);
//   - two nodes on one PostgreSQL database behind Kamailio's dispatcher,
//     one killed and started again while SIPp calls (twonodes_test.go).
//
// The load and cost benchmarks (load_test.go, cost_test.go,
// overload_test.go, http_load_test.go, reports_load_test.go,
// upload_load_test.go) run only with PD_LOAD=1; docs/benchmarks.md gives
// their commands and figures. baresipgo is the cost benchmark's bare SIP
// stack, built by it.
// The tests need sipp, tshark, curl, chromium, baresip and kamailio
// (Debian packages sip-tester, tshark, curl, chromium, baresip-core,
// kamailio), and PostgreSQL through PD_TEST_POSTGRES; .ci/run installs
// them and starts a PostgreSQL server. Outside CI a test whose peer is
// missing skips and says so; under CI=1 it fails.
package integration
