package dmq

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts what the module does, for Prometheus (sipht_dmq_*) and
// tests (Module.Counts). Label values are bounded: channels are the
// registered ones plus "<unknown>" and "<none>", results a fixed set.
type metrics struct {
	m *Module

	mu    sync.RWMutex
	sentC map[[2]string]*atomic.Uint64
	recvC map[[2]string]*atomic.Uint64

	queueDrops atomic.Uint64
	inlineJobs atomic.Uint64
	badLines   atomic.Uint64

	descNodes, descSent, descRecv, descDrops, descInline, descBad, descQueue *prometheus.Desc
}

func newMetrics(m *Module) *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sipht_dmq_"+name, help, labels, nil)
	}
	return &metrics{
		m:          m,
		sentC:      map[[2]string]*atomic.Uint64{},
		recvC:      map[[2]string]*atomic.Uint64{},
		descNodes:  d("nodes", "DMQ nodes in the node list by status (this node included).", "status"),
		descSent:   d("messages_sent_total", "KDMQ requests sent, by channel and result (reply code, 408 for no reply, error).", "channel", "result"),
		descRecv:   d("messages_received_total", "KDMQ requests received, by channel and the reply code sent.", "channel", "result"),
		descDrops:  d("queue_dropped_total", "Messages dropped because a node's send queue was full."),
		descInline: d("inline_jobs_total", "Received KDMQ requests handled on the SIP worker because every DMQ worker queue was full."),
		descBad:    d("bad_node_lines_total", "Lines of received node lists that could not be parsed (skipped)."),
		descQueue:  d("queue_length", "Messages waiting in the per-node send queues."),
	}
}

func (c *metrics) counter(mp map[[2]string]*atomic.Uint64, ch, result string) *atomic.Uint64 {
	k := [2]string{ch, result}
	c.mu.RLock()
	x := mp[k]
	c.mu.RUnlock()
	if x != nil {
		return x
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if x = mp[k]; x == nil {
		x = new(atomic.Uint64)
		mp[k] = x
	}
	return x
}

func (c *metrics) sent(ch, result string)     { c.counter(c.sentC, ch, result).Add(1) }
func (c *metrics) received(ch, result string) { c.counter(c.recvC, ch, result).Add(1) }

// Counts returns the sent ("sent/<channel>/<result>") and received
// ("recv/<channel>/<result>") counters and the drop counters.
func (m *Module) Counts() map[string]uint64 {
	c := m.metrics
	out := map[string]uint64{}
	c.mu.RLock()
	for k, v := range c.sentC {
		out["sent/"+k[0]+"/"+k[1]] = v.Load()
	}
	for k, v := range c.recvC {
		out["recv/"+k[0]+"/"+k[1]] = v.Load()
	}
	c.mu.RUnlock()
	out["queue_dropped"] = c.queueDrops.Load()
	out["inline_jobs"] = c.inlineJobs.Load()
	out["bad_node_lines"] = c.badLines.Load()
	return out
}

// Describe implements prometheus.Collector.
func (c *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descNodes, c.descSent, c.descRecv, c.descDrops, c.descInline, c.descBad, c.descQueue} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *metrics) Collect(ch chan<- prometheus.Metric) {
	by := map[string]int{"active": 0, "disabled": 0, "timeout": 0, "pending": 0}
	for _, n := range c.m.Nodes() {
		by[n.Status.String()]++
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ch <- prometheus.MustNewConstMetric(c.descNodes, prometheus.GaugeValue, float64(by[k]), k)
	}
	c.mu.RLock()
	for k, v := range c.sentC {
		ch <- prometheus.MustNewConstMetric(c.descSent, prometheus.CounterValue, float64(v.Load()), k[0], k[1])
	}
	for k, v := range c.recvC {
		ch <- prometheus.MustNewConstMetric(c.descRecv, prometheus.CounterValue, float64(v.Load()), k[0], k[1])
	}
	c.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(c.descDrops, prometheus.CounterValue, float64(c.queueDrops.Load()))
	ch <- prometheus.MustNewConstMetric(c.descInline, prometheus.CounterValue, float64(c.inlineJobs.Load()))
	ch <- prometheus.MustNewConstMetric(c.descBad, prometheus.CounterValue, float64(c.badLines.Load()))
	q := 0
	c.m.sendMu.Lock()
	for _, s := range c.m.senders {
		q += len(s.q)
	}
	c.m.sendMu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.descQueue, prometheus.GaugeValue, float64(q))
}
