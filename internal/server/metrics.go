package server

import (
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/sipio"
)

var stderr = os.Stderr

// sipCollector exposes the SIP transport's counters to Prometheus, read
// from sipio.Stats at scrape time so the SIP path pays nothing for them.
type sipCollector struct {
	sip *sipio.Server

	requests, replies, parseErrors, badRequests, dropped, keepAlives *prometheus.Desc
	sendErrors, clientTimeouts, retrans, requestsOut, repliesIn      *prometheus.Desc
	tcpOpen, queueLen, httpConns                                     *prometheus.Desc
}

func newSIPCollector(s *sipio.Server) *sipCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sipht_sip_"+name, help, labels, nil)
	}
	return &sipCollector{
		sip:            s,
		requests:       d("requests_received_total", "SIP requests received, by method.", "method"),
		replies:        d("replies_sent_total", "SIP replies sent, by status code.", "code"),
		parseErrors:    d("parse_errors_total", "Messages that could not be parsed."),
		badRequests:    d("bad_requests_sent_total", "400 replies sent for unparsable requests."),
		dropped:        d("dropped_total", "Messages dropped before the script, by reason.", "reason"),
		keepAlives:     d("keepalives_total", "CRLF keep-alives received."),
		sendErrors:     d("send_errors_total", "Failed socket writes."),
		clientTimeouts: d("client_timeouts_total", "Requests sent by sipht that got no final reply in time."),
		retrans:        d("retransmissions_total", "UDP request retransmissions sent."),
		requestsOut:    d("requests_sent_total", "Requests sent by sipht (DMQ, forwarding)."),
		repliesIn:      d("replies_received_total", "SIP replies received."),
		tcpOpen:        d("tcp_connections", "TCP connections open now."),
		queueLen:       d("queue_length", "Messages waiting for a worker."),
		httpConns:      d("http_connections_total", "TCP connections accepted on SIP listeners and handed to HTTP (xhttp)."),
	}
}

func (c *sipCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.replies, c.parseErrors, c.badRequests, c.dropped,
		c.keepAlives, c.sendErrors, c.clientTimeouts, c.retrans, c.requestsOut, c.repliesIn, c.tcpOpen, c.queueLen, c.httpConns} {
		ch <- d
	}
}

func (c *sipCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sip.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for m, v := range st.RequestsIn {
		counter(c.requests, v, m)
	}
	for code, v := range st.RepliesOut {
		counter(c.replies, v, strconv.Itoa(code))
	}
	for r, v := range st.Dropped {
		counter(c.dropped, v, r.String())
	}
	counter(c.parseErrors, st.ParseErrors)
	counter(c.badRequests, st.BadRequestsSent)
	counter(c.keepAlives, st.KeepAlives)
	counter(c.sendErrors, st.SendErrors)
	counter(c.clientTimeouts, st.ClientTimeouts)
	counter(c.retrans, st.Retransmissions)
	counter(c.requestsOut, st.RequestsOut)
	counter(c.repliesIn, st.RepliesIn)
	counter(c.httpConns, st.HTTPConns)
	ch <- prometheus.MustNewConstMetric(c.tcpOpen, prometheus.GaugeValue, float64(st.TCPOpen))
	ch <- prometheus.MustNewConstMetric(c.queueLen, prometheus.GaugeValue, float64(st.QueueLen))
}

// rpcMetrics counts management RPC calls (BINRPC, JSON-RPC over every
// transport) through the registry's observer, whichever of ctl and
// jsonrpcs is loaded. Method names that are not registered are counted as
// "<unknown>", so a client cannot grow the label set.
type rpcMetrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newRPCMetrics(reg prometheus.Registerer) *rpcMetrics {
	m := &rpcMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sipht_rpc_calls_total",
			Help: "Management RPC calls (kamcmd, JSON-RPC), by method, transport and outcome (ok, fault, not_found, error).",
		}, []string{"method", "transport", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sipht_rpc_call_duration_seconds",
			Help:    "Time to run an RPC call and stream its reply, by transport.",
			Buckets: []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30},
		}, []string{"transport"}),
	}
	reg.MustRegister(m.calls, m.duration)
	return m
}

func (m *rpcMetrics) observe(ci rpc.CallInfo) {
	method := ci.Method
	if ci.Outcome == rpc.OutcomeNotFound {
		method = "<unknown>"
	}
	tp := ci.Transport
	if tp == "" {
		tp = "other"
	}
	m.calls.WithLabelValues(method, tp, ci.Outcome.String()).Inc()
	m.duration.WithLabelValues(tp).Observe(ci.Duration.Seconds())
}
