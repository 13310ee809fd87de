package pike

import "github.com/prometheus/client_golang/prometheus"

// collector exposes pike's counters, read at scrape time.
type collector struct {
	m                                                    *Module
	blocked, blockedNow, nodes, maxNodes, evicted, drops *prometheus.Desc
}

func newCollector(m *Module) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sipht_pike_"+name, help, labels, nil)
	}
	return &collector{
		m:          m,
		blocked:    d("blocked_total", "Sources detected as flooding (pike_check_req returned -2; Kamailio's pike:blocked_ips)."),
		blockedNow: d("blocked_ips", "Sources blocked now."),
		nodes:      d("nodes", "Nodes in pike's address trees."),
		maxNodes:   d("nodes_max", "Bound on the nodes (max_nodes)."),
		evicted:    d("evicted_nodes_total", "Nodes evicted because the trees were full."),
		drops:      d("early_drops_total", "Messages dropped before parsing, by reason (hot: source blocked by pike; ban_table: source in early_drop_table).", "reason"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.blocked, c.blockedNow, c.nodes, c.maxNodes, c.evicted, c.drops} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.det.Stats()
	ch <- prometheus.MustNewConstMetric(c.blocked, prometheus.CounterValue, float64(s.Detected))
	ch <- prometheus.MustNewConstMetric(c.blockedNow, prometheus.GaugeValue, float64(s.Blocked))
	ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(s.Nodes))
	ch <- prometheus.MustNewConstMetric(c.maxNodes, prometheus.GaugeValue, float64(c.m.cfg.MaxNodes))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(s.Evicted))
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.HotDrops), "hot")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(c.m.drops.ban.Load()), "ban_table")
}
