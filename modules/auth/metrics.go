package auth

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the authentication outcomes, by Kamailio code, and the
// challenges sent.
type counters struct {
	results    [9]atomic.Uint64 // index: 0 = ok, n = code -n
	challenges [2]atomic.Uint64 // 401, 407
}

func (c *counters) result(code int) {
	i := -code
	if code == CodeOK {
		i = 0
	}
	if i >= 0 && i < len(c.results) {
		c.results[i].Add(1)
	}
}

var resultNames = [9]string{"ok", "error", "invalid_password", "user_unknown", "stale_nonce", "no_credentials",
	"nonce_reused", "username_expired", "user_mismatch"}

type collector struct {
	c                   *counters
	results, challenges *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.results
	ch <- c.challenges
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for i, n := range resultNames {
		ch <- prometheus.MustNewConstMetric(c.results, prometheus.CounterValue, float64(c.c.results[i].Load()), n)
	}
	ch <- prometheus.MustNewConstMetric(c.challenges, prometheus.CounterValue, float64(c.c.challenges[0].Load()), "401")
	ch <- prometheus.MustNewConstMetric(c.challenges, prometheus.CounterValue, float64(c.c.challenges[1].Load()), "407")
}

func (m *Module) registerMetrics(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	return r.Register(&collector{c: &m.stats,
		results: prometheus.NewDesc("sipht_auth_results_total",
			"Digest authentications by outcome (Kamailio's return codes: ok, invalid_password -2, ...).", []string{"result"}, nil),
		challenges: prometheus.NewDesc("sipht_auth_challenges_total", "Challenges sent, by reply code.", []string{"code"}, nil),
	})
}
