package admin

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phonediversions/phonediversions/routing"
)

// Route labels of the endpoints that are not logged at info level.
const (
	routeHealth  = "/healthz"
	routeReady   = "/readyz"
	routeMetrics = "/metrics"
)

// Telephony is a snapshot of the counters the call handler and the media
// engine keep; the metrics endpoint reads it at each scrape.
type Telephony struct {
	// CallsStarted and CallsRejected count INVITEs that started a call and
	// INVITEs refused.
	CallsStarted, CallsRejected uint64
	// Outcomes counts ended calls by report status.
	Outcomes map[routing.Status]uint64
	// ActiveCalls are the calls in progress.
	ActiveCalls int
	// CallsShed counts INVITEs refused for overload; CallLimit is the
	// calls in progress the overload control takes at most now, and
	// Overloaded tells that it refuses every new call.
	CallsShed  uint64
	CallLimit  int
	Overloaded bool
	// Streams are the announcement and tone streams playing.
	Streams int64
	// RTP packets sent, received, sent late, skipped frames, and packets
	// dropped (malformed, stray source).
	RTPSent, RTPReceived, RTPLate, RTPSkipped, RTPDropped, RTPBatched uint64
	// Lateness of announcement packets against their deadline, and the
	// relay's delay from reading a packet to writing it.
	Lateness, RelayDelay Histogram
	// SIPReadWait is how long SIP datagrams waited in the UDP socket
	// before the node read them.
	SIPReadWait Histogram
}

// Histogram is a distribution of durations in equal buckets:
// Counts[i] holds those in [i·Bucket, (i+1)·Bucket), the last one all
// beyond.
type Histogram struct {
	Bucket time.Duration
	Counts []uint64
}

// latencyBuckets are the upper bounds (seconds) the exported histograms
// have; each is a multiple of the engine's bucket width.
var latencyBuckets = []float64{0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.01, 0.02, 0.05, 0.1}

// constHistogram folds h into latencyBuckets. The sum is estimated from
// bucket midpoints: the engine keeps counts, not a sum.
func constHistogram(desc *prometheus.Desc, h Histogram) prometheus.Metric {
	cum := make(map[float64]uint64, len(latencyBuckets))
	var count uint64
	var sum float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo := time.Duration(i) * h.Bucket
		count += c
		sum += float64(c) * (lo + h.Bucket/2).Seconds()
		for _, b := range latencyBuckets {
			if i < len(h.Counts)-1 && (lo+h.Bucket).Seconds() <= b+1e-12 {
				cum[b] += c
			}
		}
	}
	return prometheus.MustNewConstHistogram(desc, count, sum, cum)
}

// metrics are the HTTP module's own counters and the collector that
// reads the rest of the program at scrape time.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	s        *Server

	switches, calls, outcomes, rejected, active, streams *prometheus.Desc
	rtp, lateness, relay, sipReadWait                    *prometheus.Desc
	decodes, stored, storedMax                           *prometheus.Desc
	reportsKept, reportsDropped, callsFromCache          *prometheus.Desc
	shed, callLimit, overloaded                          *prometheus.Desc
	storeUnreachable, certExpiry                         *prometheus.Desc
	signInFailures                                       prometheus.Counter
}

// callOutcomes are the report statuses a call ends with, each exported
// from the start (a series that appears only with its first call is
// missed by rate()).
var callOutcomes = []routing.Status{routing.StatusConnected, routing.StatusDirectAccess, routing.StatusTerminated,
	routing.StatusBusy, routing.StatusNoAnswer, routing.StatusFailed, routing.StatusCancelled}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), s: s,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phonediversions_http_requests_total",
			Help: "HTTP requests answered, by route and status."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "phonediversions_http_request_duration_seconds",
			Help: "Time to answer HTTP requests, by route.", Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}},
			[]string{"route"}),
		switches: prometheus.NewDesc("phonediversions_switches_total", "Diversion switches, by channel.", []string{"channel"}, nil),
		calls:    prometheus.NewDesc("phonediversions_calls_total", "Calls started (INVITEs accepted for handling).", nil, nil),
		outcomes: prometheus.NewDesc("phonediversions_calls_ended_total", "Calls ended, by the outcome the report records.", []string{"outcome"}, nil),
		rejected: prometheus.NewDesc("phonediversions_calls_rejected_total", "INVITEs refused (403, 404, 482, 503, ...).", nil, nil),
		active:   prometheus.NewDesc("phonediversions_active_calls", "Calls in progress.", nil, nil),
		streams:  prometheus.NewDesc("phonediversions_announcement_streams", "Announcement and tone streams playing.", nil, nil),
		rtp:      prometheus.NewDesc("phonediversions_rtp_packets_total", "RTP packets, by kind: sent, received, late (sent more than 5 ms after their deadline), skipped (frames skipped to catch up), dropped (malformed or from a stray source), batched (of those sent, handed to the kernel in io_uring batches; 0 where the kernel refuses io_uring).", []string{"kind"}, nil),
		lateness: prometheus.NewDesc("phonediversions_rtp_lateness_seconds", "Send time of announcement packets after their deadline.", nil, nil),
		relay:    prometheus.NewDesc("phonediversions_relay_delay_seconds", "Time from reading a relayed RTP packet to writing it on the other leg.", nil, nil),
		sipReadWait: prometheus.NewDesc("phonediversions_sip_read_wait_seconds",
			"Time SIP datagrams waited in the UDP socket before the node read them, from the kernel's stamp of their arrival: every answer, a 503 for overload included, leaves at least this late.", nil, nil),
		decodes:   prometheus.NewDesc("phonediversions_announcement_uploads_converting", "Announcement uploads being converted now.", nil, nil),
		stored:    prometheus.NewDesc("phonediversions_announcements_stored_bytes", "Bytes the stored announcements take.", nil, nil),
		storedMax: prometheus.NewDesc("phonediversions_announcements_stored_max_bytes", "Bytes the stored announcements may take (announcement_max_total; 0: no bound).", nil, nil),
		reportsKept: prometheus.NewDesc("phonediversions_report_entries_kept",
			"Call report entries kept in memory because the store could not be reached; written when it answers.", nil, nil),
		reportsDropped: prometheus.NewDesc("phonediversions_report_entries_dropped_total",
			"Call report entries lost because the queue of entries waiting for the store was full.", nil, nil),
		callsFromCache: prometheus.NewDesc("phonediversions_calls_decided_from_cache_total",
			"Calls decided from the groups and lines last read because the store could not be reached.", nil, nil),
		shed: prometheus.NewDesc("phonediversions_calls_shed_total",
			"INVITEs refused with 503 because the node was overloaded (also counted in phonediversions_calls_rejected_total).", nil, nil),
		callLimit: prometheus.NewDesc("phonediversions_call_limit_calls",
			"Calls in progress the overload control takes at most now: learned from how the node keeps up, at most max_calls.", nil, nil),
		overloaded: prometheus.NewDesc("phonediversions_overloaded",
			"1 while the node refuses every new call because it does not keep up, 0 otherwise.", nil, nil),
		storeUnreachable: prometheus.NewDesc("phonediversions_store_unreachable_seconds",
			"How long the store (database) has not answered the node's checks, every 2 s; 0 while it answers.", nil, nil),
		certExpiry: prometheus.NewDesc("phonediversions_tls_certificate_expiry_timestamp_seconds",
			"When the certificate of a TLS listener (http, sip) expires, as a Unix time.", []string{"listener"}, nil),
		signInFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "phonediversions_sign_in_failures_total",
			Help: "Failed sign-ins: wrong username or password on the web page or in REST credentials."}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "phonediversions_build_info",
		Help:        "Always 1; its labels name the running build: version (the release, or the commit it was built from) and goversion.",
		ConstLabels: prometheus.Labels{"version": s.cfg.Version, "goversion": runtime.Version()}})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.duration, m, build, m.signInFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one answered request.
func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.switches, m.calls, m.outcomes, m.rejected, m.active, m.streams, m.rtp, m.lateness, m.relay,
		m.sipReadWait, m.decodes, m.stored, m.storedMax, m.reportsKept, m.reportsDropped, m.callsFromCache, m.shed, m.callLimit, m.overloaded,
		m.storeUnreachable, m.certExpiry} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the counters the
// routing service, the call handler and the media engine keep.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for c, n := range m.s.svc.SwitchCounts() {
		ch <- prometheus.MustNewConstMetric(m.switches, prometheus.CounterValue, float64(n), string(c))
	}
	ch <- prometheus.MustNewConstMetric(m.decodes, prometheus.GaugeValue, float64(len(m.s.decodes)))
	kept, dropped := m.s.svc.ReportQueue()
	ch <- prometheus.MustNewConstMetric(m.reportsKept, prometheus.GaugeValue, float64(kept))
	ch <- prometheus.MustNewConstMetric(m.reportsDropped, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(m.callsFromCache, prometheus.CounterValue, float64(m.s.svc.CallsFromCache()))
	ch <- prometheus.MustNewConstMetric(m.storeUnreachable, prometheus.GaugeValue, m.s.svc.StoreUnreachableFor().Seconds())
	for listener, at := range m.s.cfg.CertificateExpiry {
		ch <- prometheus.MustNewConstMetric(m.certExpiry, prometheus.GaugeValue, float64(at.Unix()), listener)
	}
	if used, most, err := m.s.ann.Stored(context.Background()); err == nil {
		ch <- prometheus.MustNewConstMetric(m.stored, prometheus.GaugeValue, float64(used))
		ch <- prometheus.MustNewConstMetric(m.storedMax, prometheus.GaugeValue, float64(most))
	}
	if m.s.probes.Telephony == nil {
		return
	}
	t := m.s.probes.Telephony()
	ch <- prometheus.MustNewConstMetric(m.calls, prometheus.CounterValue, float64(t.CallsStarted))
	ch <- prometheus.MustNewConstMetric(m.rejected, prometheus.CounterValue, float64(t.CallsRejected))
	for _, st := range callOutcomes {
		ch <- prometheus.MustNewConstMetric(m.outcomes, prometheus.CounterValue, float64(t.Outcomes[st]), string(st))
	}
	for st, n := range t.Outcomes {
		if !slices.Contains(callOutcomes, st) {
			ch <- prometheus.MustNewConstMetric(m.outcomes, prometheus.CounterValue, float64(n), string(st))
		}
	}
	ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, float64(t.ActiveCalls))
	ch <- prometheus.MustNewConstMetric(m.shed, prometheus.CounterValue, float64(t.CallsShed))
	ch <- prometheus.MustNewConstMetric(m.callLimit, prometheus.GaugeValue, float64(t.CallLimit))
	overloaded := 0.0
	if t.Overloaded {
		overloaded = 1
	}
	ch <- prometheus.MustNewConstMetric(m.overloaded, prometheus.GaugeValue, overloaded)
	ch <- prometheus.MustNewConstMetric(m.streams, prometheus.GaugeValue, float64(t.Streams))
	for kind, n := range map[string]uint64{"sent": t.RTPSent, "received": t.RTPReceived, "late": t.RTPLate,
		"skipped": t.RTPSkipped, "dropped": t.RTPDropped, "batched": t.RTPBatched} {
		ch <- prometheus.MustNewConstMetric(m.rtp, prometheus.CounterValue, float64(n), kind)
	}
	if t.Lateness.Bucket > 0 {
		ch <- constHistogram(m.lateness, t.Lateness)
	}
	if t.RelayDelay.Bucket > 0 {
		ch <- constHistogram(m.relay, t.RelayDelay)
	}
	if t.SIPReadWait.Bucket > 0 {
		ch <- constHistogram(m.sipReadWait, t.SIPReadWait)
	}
}

// handler serves /metrics to the networks allowed to read it.
func (m *metrics) handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r).route = routeMetrics
		if !m.s.cfg.MetricsNetworks.Contains(clientAddr(r)) {
			http.Error(w, "metrics are not open to this address", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
