package xhttp_prom

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is the type of a user-defined metric.
type Kind uint8

// Metric kinds (modparams prom_counter, prom_gauge, prom_histogram).
const (
	Counter Kind = iota + 1
	Gauge
	Histogram
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	}
	return "histogram"
}

// MaxLabels is how many labels a metric may have (Kamailio: three).
const MaxLabels = 3

// MaxSeries bounds the label combinations of one metric; a new one beyond
// it is refused (the script function returns -1) until unused ones expire.
const MaxSeries = 10000

// defaultBuckets are Kamailio's (and Prometheus') default buckets.
var defaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metric is one declared user metric and its series.
type metric struct {
	name    string // as declared (without the prefix)
	kind    Kind
	labels  []string
	buckets []float64
	desc    *prometheus.Desc

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	labels  []string
	value   float64  // counter, gauge
	counts  []uint64 // histogram, per bucket (not cumulative)
	sum     float64
	count   uint64
	touched time.Time
}

// parseDecl parses a prom_counter/prom_gauge/prom_histogram value:
// "name=cnt01; label=method:IP; buckets=0.1:1:10".
func parseDecl(kind Kind, s string) (*metric, error) {
	m := &metric{kind: kind, series: map[string]*series{}}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q: expected attribute=value", part)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if seen[k] {
			return nil, fmt.Errorf("attribute %q given twice", k)
		}
		seen[k] = true
		switch k {
		case "name":
			if !validMetricName(v) {
				return nil, fmt.Errorf("invalid metric name %q", v)
			}
			m.name = v
		case "label":
			ls := strings.Split(v, ":")
			if len(ls) > MaxLabels {
				return nil, fmt.Errorf("label %q: at most %d label names", v, MaxLabels)
			}
			for _, l := range ls {
				if !validLabelName(l) {
					return nil, fmt.Errorf("invalid label name %q", l)
				}
			}
			m.labels = ls
		case "buckets":
			if kind != Histogram {
				return nil, fmt.Errorf("buckets: only histograms have buckets")
			}
			for _, b := range strings.Split(v, ":") {
				f, err := strconv.ParseFloat(strings.TrimSpace(b), 64)
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					return nil, fmt.Errorf("buckets %q: %q is not a number", v, b)
				}
				if n := len(m.buckets); n > 0 && f <= m.buckets[n-1] {
					return nil, fmt.Errorf("buckets %q: values must increase", v)
				}
				m.buckets = append(m.buckets, f)
			}
		default:
			return nil, fmt.Errorf("unknown attribute %q (name, label%s)", k, map[bool]string{true: ", buckets"}[kind == Histogram])
		}
	}
	if m.name == "" {
		return nil, errors.New("the name attribute is mandatory")
	}
	if kind == Histogram && m.buckets == nil {
		m.buckets = defaultBuckets
	}
	return m, nil
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") || s == "le" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// get returns the series for the label values, creating it at zero; nil
// when MaxSeries is reached. Call with m.mu held.
func (m *metric) get(values []string, now time.Time) *series {
	key := strings.Join(values, "\x00")
	s := m.series[key]
	if s == nil {
		if len(m.series) >= MaxSeries {
			return nil
		}
		s = &series{labels: append([]string(nil), values...)}
		if m.kind == Histogram {
			s.counts = make([]uint64, len(m.buckets))
		}
		m.series[key] = s
	}
	s.touched = now
	return s
}

// Op is an update of a user metric.
type Op uint8

// Updates, as the script functions and RPC commands name them.
const (
	OpReset   Op = iota // prom_counter_reset, prom_gauge_reset
	OpInc               // prom_counter_inc
	OpSet               // prom_gauge_set
	OpObserve           // prom_histogram_observe
)

// Metrics holds the user-defined metrics of one xhttp_prom module and
// exposes them to Prometheus (it is a prometheus.Collector).
type Metrics struct {
	prefix  string
	timeout time.Duration
	byName  map[string]*metric
	order   []*metric
}

func newMetrics(prefix string, timeout time.Duration, defs []*metric) (*Metrics, error) {
	ms := &Metrics{prefix: prefix, timeout: timeout, byName: map[string]*metric{}}
	for _, m := range defs {
		if _, dup := ms.byName[m.name]; dup {
			return nil, fmt.Errorf("metric %q declared twice", m.name)
		}
		ms.byName[m.name] = m
		ms.order = append(ms.order, m)
		m.desc = prometheus.NewDesc(prefix+m.name, "User-defined "+m.kind.String()+" (xhttp_prom).", m.labels, nil)
	}
	return ms, nil
}

// Update applies op to the metric name with the label values. kind, when
// not 0, is the kind the caller expects (prom_counter_inc on a gauge is an
// error).
func (ms *Metrics) Update(kind Kind, name string, op Op, value float64, labels []string) error {
	m := ms.byName[name]
	if m == nil {
		return fmt.Errorf("no metric %q (declare it with modparam(\"xhttp_prom\", \"prom_%s\", \"name=%s\"))", name, kind, name)
	}
	if kind != 0 && m.kind != kind {
		return fmt.Errorf("metric %q is a %s, not a %s", name, m.kind, kind)
	}
	if len(labels) != len(m.labels) {
		return fmt.Errorf("metric %q has %d labels, %d values given", name, len(m.labels), len(labels))
	}
	if math.IsNaN(value) {
		return fmt.Errorf("metric %q: value is not a number", name)
	}
	if op == OpInc && value < 0 {
		return fmt.Errorf("counter %q: cannot add a negative number", name)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.get(labels, now)
	if s == nil {
		return fmt.Errorf("metric %q: %d label combinations already (the maximum); unused ones expire after xhttp_prom_timeout", name, MaxSeries)
	}
	switch op {
	case OpReset:
		s.value = 0
	case OpInc:
		s.value += value
	case OpSet:
		s.value = value
	case OpObserve:
		for i, b := range m.buckets {
			if value <= b {
				s.counts[i]++
				break
			}
		}
		s.sum += value
		s.count++
	}
	return nil
}

// Expire removes the series not updated since before. It returns how many
// were removed.
func (ms *Metrics) Expire(before time.Time) int {
	n := 0
	for _, m := range ms.order {
		m.mu.Lock()
		for k, s := range m.series {
			if s.touched.Before(before) {
				delete(m.series, k)
				n++
			}
		}
		m.mu.Unlock()
	}
	return n
}

// Describe implements prometheus.Collector.
func (ms *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range ms.order {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (ms *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, m := range ms.order {
		m.mu.Lock()
		for _, s := range m.series {
			switch m.kind {
			case Counter:
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, s.value, s.labels...)
			case Gauge:
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, s.value, s.labels...)
			case Histogram:
				bk := make(map[float64]uint64, len(m.buckets))
				var cum uint64
				for i, b := range m.buckets {
					cum += s.counts[i]
					bk[b] = cum
				}
				ch <- prometheus.MustNewConstHistogram(m.desc, s.count, s.sum, bk, s.labels...)
			}
		}
		m.mu.Unlock()
	}
}

// List prints every series in Prometheus' text format, in declaration
// order and then by label values (the
// xhttp_prom.metric_list_print RPC command).
func (ms *Metrics) List() string {
	var lines []string
	lbl := func(m *metric, s *series, extra string) string {
		var parts []string
		for i, l := range m.labels {
			parts = append(parts, fmt.Sprintf("%s=%q", l, s.labels[i]))
		}
		if extra != "" {
			parts = append(parts, extra)
		}
		if len(parts) == 0 {
			return ""
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	for _, m := range ms.order {
		name := ms.prefix + m.name
		m.mu.Lock()
		keys := make([]string, 0, len(m.series))
		for k := range m.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := m.series[k]
			if m.kind != Histogram {
				lines = append(lines, name+lbl(m, s, "")+" "+num(s.value))
				continue
			}
			var cum uint64
			for i, b := range m.buckets {
				cum += s.counts[i]
				lines = append(lines, fmt.Sprintf("%s_bucket%s %d", name, lbl(m, s, fmt.Sprintf("le=%q", num(b))), cum))
			}
			lines = append(lines, fmt.Sprintf("%s_bucket%s %d", name, lbl(m, s, `le="+Inf"`), s.count))
			lines = append(lines, name+"_sum"+lbl(m, s, "")+" "+num(s.sum))
			lines = append(lines, fmt.Sprintf("%s_count%s %d", name, lbl(m, s, ""), s.count))
		}
		m.mu.Unlock()
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
