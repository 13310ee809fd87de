package webui

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names the web UI reads from the server's Prometheus registry (the
// same numbers /metrics serves).
const (
	metricRequests = "sipht_sip_requests_received_total" // {method}
	metricReplies  = "sipht_sip_replies_sent_total"      // {code}
	metricTableMem = "sipht_htable_memory_bytes"         // {table}
)

// Sampling: a sample is taken when a page or the chart asks and the last
// one is older than minInterval (every viewer shares it); a rate point
// needs two samples at most maxGap apart; keepPoints points are kept
// (five minutes at one per second).
const (
	minInterval = 900 * time.Millisecond
	maxGap      = 10 * time.Second
	keepPoints  = 300
)

// point is one chart point: rates per second over the interval ending at T.
type point struct {
	T    int64   `json:"t"` // unix milliseconds
	RPS  float64 `json:"rps"`
	R4xx float64 `json:"r4xx"`
	R429 float64 `json:"r429"`
}

// totals are the counters of one sample.
type totals struct {
	at              time.Time
	req, r4xx, r429 float64 // absent series count as 0
	tableMem        map[string]float64
	haveMem         bool
}

// sampler reads the server's Gatherer on demand and keeps the recent rate
// points. Nothing runs while nobody looks at the page.
type sampler struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu     sync.Mutex
	last   *totals
	points []point
	err    error
}

func newSampler(g prometheus.Gatherer) *sampler {
	return &sampler{g: g, now: time.Now}
}

// sample returns the latest totals, taking a new sample when the last one
// is older than minInterval, and the chart points.
func (s *sampler) sample() (*totals, []point, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.last != nil && now.Sub(s.last.at) < minInterval {
		return s.last, append([]point(nil), s.points...), s.err
	}
	t, err := s.gather(now)
	s.err = err
	if err != nil {
		return s.last, append([]point(nil), s.points...), err
	}
	if p := s.last; p != nil {
		dt := t.at.Sub(p.at).Seconds()
		switch {
		case dt <= 0:
		case t.at.Sub(p.at) > maxGap || t.req < p.req || t.r4xx < p.r4xx || t.r429 < p.r429:
			// nobody watched for a while, or the counters restarted:
			// start a new series instead of drawing one long average
			s.points = s.points[:0]
		default:
			s.points = append(s.points, point{T: t.at.UnixMilli(),
				RPS: (t.req - p.req) / dt, R4xx: (t.r4xx - p.r4xx) / dt, R429: (t.r429 - p.r429) / dt})
			if len(s.points) > keepPoints {
				s.points = append(s.points[:0], s.points[len(s.points)-keepPoints:]...)
			}
		}
	}
	s.last = t
	// callers get a copy: the slice is appended to under the lock
	return t, append([]point(nil), s.points...), nil
}

func (s *sampler) gather(now time.Time) (*totals, error) {
	t := &totals{at: now, tableMem: map[string]float64{}}
	if s.g == nil {
		return t, nil
	}
	mfs, err := s.g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, err
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case metricRequests:
			for _, m := range mf.GetMetric() {
				t.req += m.GetCounter().GetValue()
			}
		case metricReplies:
			for _, m := range mf.GetMetric() {
				code := 0
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" {
						code, _ = strconv.Atoi(l.GetValue())
					}
				}
				v := m.GetCounter().GetValue()
				if code >= 400 && code < 500 {
					t.r4xx += v
				}
				if code == 429 {
					t.r429 += v
				}
			}
		case metricTableMem:
			t.haveMem = true
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "table" {
						t.tableMem[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
		}
	}
	return t, nil
}
