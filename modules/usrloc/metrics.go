package usrloc

import "github.com/prometheus/client_golang/prometheus"

// collector exposes the location tables' sizes (Kamailio's usrloc
// statistics <table>:users and <table>:contacts), read at scrape time.
type collector struct {
	m                 *Module
	records, contacts *prometheus.Desc
	expired           *prometheus.Desc
}

func newCollector(m *Module) *collector {
	return &collector{
		m:        m,
		records:  prometheus.NewDesc("sipht_usrloc_records", "Addresses of record in a location table.", []string{"table"}, nil),
		contacts: prometheus.NewDesc("sipht_usrloc_contacts", "Contacts in a location table.", []string{"table"}, nil),
		expired:  prometheus.NewDesc("sipht_usrloc_expired_contacts_total", "Contacts removed by the expiry timer.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.contacts
	ch <- c.expired
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.m.Domains() {
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(d.Records()), d.Name())
		ch <- prometheus.MustNewConstMetric(c.contacts, prometheus.GaugeValue, float64(d.ContactCount()), d.Name())
	}
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(c.m.expiredTotal.Load()))
}
