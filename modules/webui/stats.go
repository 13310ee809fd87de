package webui

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipht/sipht/internal/sipio"
)

// Metric names the web UI reads from the server's Prometheus registry (the
// same numbers /metrics serves).
const (
	metricRequests = "sipht_sip_requests_received_total" // {method}
	metricReplies  = "sipht_sip_replies_sent_total"      // {code}
	metricTableMem = "sipht_htable_memory_bytes"         // {table}
)

// Sampling: a sample is taken when the chart asks and the last one is
// older than minInterval (every viewer shares it); a rate point needs two
// samples at most maxGap apart; keepPoints points are kept (five minutes
// at one per second).
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

// counters are the SIP totals of one sample.
type counters struct {
	at              time.Time
	req, r4xx, r429 float64 // absent series count as 0
}

// sampler computes the chart's rates from the SIP counters and reads the
// tables' memory, on demand: nothing runs while nobody looks at the page.
//
// The counters are those of sipht_sip_requests_received_total and
// sipht_sip_replies_sent_total. Once the transport is known (SetSIP, from
// the module's Start) they are read from sipio.Stats, the source of those
// metrics, because a Gather also runs every collector, htable's included,
// which scans every table (tens of milliseconds per million items): fine
// for the memory column, too much once a second for the chart. Without the
// transport (tests, or before Start) the Gatherer is read.
type sampler struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu     sync.Mutex
	sip    func() sipio.Stats
	last   *counters
	points []point
	err    error
	mem    map[string]float64 // nil: no sipht_htable_memory_bytes
	memAt  time.Time
}

func newSampler(g prometheus.Gatherer) *sampler {
	return &sampler{g: g, now: time.Now}
}

// setSIP makes the sampler read the SIP counters from the transport.
func (s *sampler) setSIP(fn func() sipio.Stats) {
	s.mu.Lock()
	s.sip = fn
	s.mu.Unlock()
}

// sample returns the chart points, taking a new sample when the last one is
// older than minInterval.
func (s *sampler) sample() ([]point, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.last != nil && now.Sub(s.last.at) < minInterval {
		return append([]point(nil), s.points...), s.err
	}
	t, err := s.read(now)
	s.err = err
	if err != nil {
		return append([]point(nil), s.points...), err
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
	return append([]point(nil), s.points...), nil
}

func (s *sampler) read(now time.Time) (*counters, error) {
	t := &counters{at: now}
	if s.sip != nil {
		st := s.sip()
		for _, v := range st.RequestsIn {
			t.req += float64(v)
		}
		for code, v := range st.RepliesOut {
			t.addReplies(code, float64(v))
		}
		return t, nil
	}
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
				t.addReplies(code, m.GetCounter().GetValue())
			}
		}
	}
	return t, nil
}

func (t *counters) addReplies(code int, v float64) {
	if code >= 400 && code < 500 {
		t.r4xx += v
	}
	if code == 429 {
		t.r429 += v
	}
}

// tableMemory returns sipht_htable_memory_bytes by table (nil when the
// registry has no such metric), gathered at most once per maxAge.
func (s *sampler) tableMemory(maxAge time.Duration) map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.memAt.IsZero() && now.Sub(s.memAt) < maxAge {
		return s.mem
	}
	s.memAt, s.mem = now, nil
	if s.g == nil {
		return nil
	}
	mfs, _ := s.g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != metricTableMem {
			continue
		}
		s.mem = map[string]float64{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" {
					s.mem[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return s.mem
}
