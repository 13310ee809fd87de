package dmqrepl

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns the replicator's Prometheus metrics
// (sipht_dmq_htable_*).
func (r *Replicator) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Replicator }

type metricDef struct {
	name, help string
	gauge      bool
	value      func(s *Stats) float64
}

var metricDefs = []metricDef{
	{"kamailio_sent_total", "htable DMQ requests sent in Kamailio's format.", false, func(s *Stats) float64 { return float64(s.KamSent.Load()) }},
	{"kamailio_ok_total", "Kamailio-format requests answered 2xx.", false, func(s *Stats) float64 { return float64(s.KamOK.Load()) }},
	{"kamailio_rejected_total", "Kamailio-format requests answered with an error (400, 500 ...): should stay 0.", false, func(s *Stats) float64 { return float64(s.KamRejected.Load()) }},
	{"kamailio_failed_total", "Kamailio-format requests without answer, not sent, or dropped from a full queue.", false, func(s *Stats) float64 { return float64(s.KamFailed.Load()) }},
	{"kamailio_dropped_total", "Changes dropped because the Kamailio send queue was full (a bulk sync follows).", false, func(s *Stats) float64 { return float64(s.KamDropped.Load()) }},
	{"kamailio_received_total", "Kamailio-format requests received.", false, func(s *Stats) float64 { return float64(s.KamReceived.Load()) }},
	{"kamailio_bad_total", "Kamailio-format requests answered 400 (malformed).", false, func(s *Stats) float64 { return float64(s.KamBad.Load()) }},
	{"kamailio_unknown_table_total", "Kamailio-format requests answered 500 for an unknown table.", false, func(s *Stats) float64 { return float64(s.KamUnknownTable.Load()) }},
	{"kamailio_apply_failed_total", "Kamailio-format requests answered 500 for other reasons (unknown action, bad regex, table full).", false, func(s *Stats) float64 { return float64(s.KamApplyFailed.Load()) }},
	{"cells_applied_total", "Bulk-sync cells applied.", false, func(s *Stats) float64 { return float64(s.CellsApplied.Load()) }},
	{"cells_skipped_total", "Bulk-sync cells skipped (malformed, unknown table, already expired).", false, func(s *Stats) float64 { return float64(s.CellsSkipped.Load()) }},
	{"sipht_sent_total", "sipht extension bodies sent.", false, func(s *Stats) float64 { return float64(s.ExtSent.Load()) }},
	{"sipht_failed_total", "sipht extension bodies lost or refused (a digest comparison follows).", false, func(s *Stats) float64 { return float64(s.ExtFailed.Load()) }},
	{"sipht_received_total", "sipht extension bodies received.", false, func(s *Stats) float64 { return float64(s.ExtReceived.Load()) }},
	{"sipht_bad_total", "sipht extension bodies answered 400.", false, func(s *Stats) float64 { return float64(s.ExtBad.Load()) }},
	{"states_sent_total", "Key states sent to sipht nodes.", false, func(s *Stats) float64 { return float64(s.StatesSent.Load()) }},
	{"states_applied_total", "Key states received from sipht nodes and merged.", false, func(s *Stats) float64 { return float64(s.StatesApplied.Load()) }},
	{"records_skipped_total", "sipht extension records skipped (unknown table or operation, bad fields).", false, func(s *Stats) float64 { return float64(s.RecordsSkipped.Load()) }},
	{"dirty_dropped_total", "Changes not queued for sipht nodes because the queue was full (a digest comparison catches up).", false, func(s *Stats) float64 { return float64(s.DirtyDropped.Load()) }},
	{"digests_sent_total", "Digest comparisons started.", false, func(s *Stats) float64 { return float64(s.Digests.Load()) }},
	{"digest_mismatch_total", "Received digests that differed from ours (a repair followed).", false, func(s *Stats) float64 { return float64(s.DigestMismatch.Load()) }},
	{"bulk_syncs_total", "Full-content transfers to Kamailio nodes.", false, func(s *Stats) float64 { return float64(s.BulkSyncs.Load()) }},
	{"tombstones_expired_total", "Remembered deletes forgotten (lifetime or bound).", false, func(s *Stats) float64 { return float64(s.TombstonesGCed.Load()) }},
	{"last_sync_seconds", "Duration of the last full-content transfer.", true, func(s *Stats) float64 { return float64(s.LastSyncNanos.Load()) / 1e9 }},
}

func desc(d *metricDef) *prometheus.Desc {
	return prometheus.NewDesc("sipht_dmq_htable_"+d.name, d.help, nil, nil)
}

var tombDesc = prometheus.NewDesc("sipht_dmq_htable_tombstones", "Deletes remembered per replicated table.", []string{"table"}, nil)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for i := range metricDefs {
		ch <- desc(&metricDefs[i])
	}
	ch <- tombDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for i := range metricDefs {
		d := &metricDefs[i]
		t := prometheus.CounterValue
		if d.gauge {
			t = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(desc(d), t, d.value(&c.r.stats))
	}
	for name, ts := range c.r.tables {
		ch <- prometheus.MustNewConstMetric(tombDesc, prometheus.GaugeValue, float64(ts.ntomb.Load()), name)
	}
}
