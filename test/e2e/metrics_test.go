package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The metrics endpoint (issue 9): a scripted sipp run against the sipht
// binary on the example configs, then GET /metrics parsed with the
// Prometheus text parser and checked family by family: names, label sets
// and exact values. Every expected number is derived in a comment from
// what the run did. The DMQ families are checked after a two-node run in
// cluster_test.go (checkDMQMetrics).

// metrics is one scrape of /metrics.
type metrics map[string]*dto.MetricFamily

// scrape GETs /metrics and parses it.
func (s *server) scrape(t testing.TB) metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.httpAddr()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v", err)
	}
	return fams
}

// series returns the values of a family keyed by its labels, written
// `name="value",...` in label-name order ("" for a family without labels).
func (m metrics) series(name string) map[string]float64 {
	f := m[name]
	if f == nil {
		return nil
	}
	out := map[string]float64{}
	for _, s := range f.Metric {
		var ls []string
		for _, l := range s.Label {
			ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		slices.Sort(ls)
		var v float64
		switch {
		case s.Counter != nil:
			v = s.Counter.GetValue()
		case s.Gauge != nil:
			v = s.Gauge.GetValue()
		case s.Untyped != nil:
			v = s.Untyped.GetValue()
		case s.Histogram != nil:
			v = float64(s.Histogram.GetSampleCount())
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

// value returns one series' value (labels as in series), and whether it
// exists.
func (m metrics) value(name, labels string) (float64, bool) {
	v, ok := m.series(name)[labels]
	return v, ok
}

// family checks a family's type and that its series are exactly want.
func (m metrics) family(t testing.TB, name string, typ dto.MetricType, want map[string]float64) {
	t.Helper()
	f := m[name]
	if f == nil {
		t.Errorf("%s: missing", name)
		return
	}
	if f.GetType() != typ {
		t.Errorf("%s: type %v, want %v", name, f.GetType(), typ)
	}
	if got := m.series(name); !maps.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", name, got, want)
	}
}

// some checks the listed series of a family (others may exist).
func (m metrics) some(t testing.TB, name string, want map[string]float64) {
	t.Helper()
	got := m.series(name)
	if got == nil {
		t.Errorf("%s: missing", name)
		return
	}
	for l, v := range want {
		if g, ok := got[l]; !ok || g != v {
			t.Errorf("%s{%s} = %v (present %v), want %v", name, l, g, ok, v)
		}
	}
}

// waitMetric scrapes until the series has the value want (the server
// handles datagrams asynchronously) or 10 s passed, and returns the last
// scrape.
func (s *server) waitMetric(t testing.TB, name, labels string, want float64) metrics {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := s.scrape(t)
		if v, _ := m.value(name, labels); v == want || time.Now().After(deadline) {
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendUDP sends raw datagrams from src to the server's SIP port and
// returns what came back within a short time. It may run on any goroutine
// (errors are reported with t.Errorf).
func (s *server) sendUDP(t testing.TB, src string, raws ...string) []string {
	t.Helper()
	la, _ := net.ResolveUDPAddr("udp", src+":0")
	ra, _ := net.ResolveUDPAddr("udp", s.sipAddr())
	c, err := net.DialUDP("udp", la, ra)
	if err != nil {
		t.Errorf("UDP from %s: %v", src, err)
		return nil
	}
	defer c.Close()
	for _, raw := range raws {
		raw = strings.ReplaceAll(raw, "{via}", c.LocalAddr().String())
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Errorf("UDP from %s: %v", src, err)
			return nil
		}
	}
	var got []string
	buf := make([]byte, 65535)
	for {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			return got
		}
		got = append(got, string(buf[:n]))
	}
}

// runSteps runs steps against srv (no transcript is compared).
func runSteps(t *testing.T, srv *server, steps ...step) {
	r := &caseRun{t: t, srv: srv, tr: newTranscript(), ports: map[string]int{}}
	for _, s := range steps {
		s.run(r)
	}
}

// garbage is a datagram that is not SIP: a parse error, dropped.
const garbage = "this is not SIP\r\n\r\n"

// noFromTo is a request without From and To: it cannot be parsed into a
// request, but has what a reply needs, so sipht answers 400 (Kamailio
// drops it silently).
const noFromTo = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-metrics-1\r\n" +
	"Call-ID: metrics-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"

// TestMetricsSeed: the seed registrar's traffic, the failure counter, the
// management calls and htable's database counters, as /metrics shows them.
func TestMetricsSeed(t *testing.T) {
	sippBin(t)
	srv := startServer(t, startOptions{kind: siphtServer, bin: siphtBin(t),
		cfg: filepath.Join(repoRoot(t), "examples", "seed.cfg"),
		defines: []string{
			// AuthCount is saved on shutdown and by htable.store, loaded at start and by htable.reload
			`AUTHCOUNT_HTABLE="AuthCount=>size=12;initval=0;autoexpire=360;dbtable=htable;dbmode=1"`,
		}})

	// Nothing but the start-up load has happened.
	m := srv.scrape(t)
	if f := m["sipht_sip_requests_received_total"]; f != nil {
		t.Errorf("requests counted before any was sent: %v", m.series(f.GetName()))
	}
	m.some(t, "sipht_htable_db_operations_total", map[string]float64{`op="load",table="AuthCount"`: 1})

	runSteps(t, srv,
		optionsStep("127.0.0.2", codes(200, 1)),
		registerStep("127.0.0.2", "alice", "secret", 1, "", codes(401, 1, 200, 1)),
		registerStep("127.0.0.3", "alice", "wrong", 8, "", codes(401, 6, 429, 3)),
	)
	if got := srv.sendUDP(t, "127.0.0.11", garbage, noFromTo); len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 400 Bad Request\r\n") {
		t.Errorf("garbage and a request without From/To: got %q, want one 400", got)
	}
	// management calls: the real kamcmd (BINRPC) and JSON-RPC over HTTP
	for _, args := range [][]string{
		{"htable.dump", "AuthCount"},
		{"htable.get", "AuthCount", "nobody"}, // fault: no such key
		{"htable.store", "AuthCount"},         // a save: 127.0.0.3's row
		{"htable.reload", "AuthCount"},        // a load: the same row back
		{"no.such.method"},                    // counted as <unknown>
	} {
		srv.kamcmd(t, args...)
	}
	runSteps(t, srv,
		jsonrpcStep("htable.get", "AuthCount", "127.0.0.3"),
		jsonrpcStep("htable.stats"),
	)

	m = srv.waitMetric(t, "sipht_sip_parse_errors_total", "", 2)
	// SIP: 1 OPTIONS and 2+9 REGISTERs reached the script (the two bad
	// datagrams are not requests); replies: the keepalive 200 and the
	// registration's 200, 1+6 challenges, 3 rate limits, the 400.
	m.family(t, "sipht_sip_requests_received_total", dto.MetricType_COUNTER, map[string]float64{
		`method="OPTIONS"`: 1, `method="REGISTER"`: 11})
	m.family(t, "sipht_sip_replies_sent_total", dto.MetricType_COUNTER, map[string]float64{
		`code="200"`: 2, `code="401"`: 7, `code="429"`: 3, `code="400"`: 1})
	m.family(t, "sipht_sip_parse_errors_total", dto.MetricType_COUNTER, map[string]float64{"": 2})
	m.family(t, "sipht_sip_bad_requests_sent_total", dto.MetricType_COUNTER, map[string]float64{"": 1})
	m.family(t, "sipht_sip_dropped_total", dto.MetricType_COUNTER, map[string]float64{
		`reason="filtered"`: 0, `reason="queue_full"`: 0, `reason="too_large"`: 0, `reason="parse_error"`: 1,
		`reason="bad_request"`: 1, `reason="tcp_limit"`: 0, `reason="shutdown"`: 0, `reason="handler_panic"`: 0,
		`reason="reply"`: 0})

	// htable. MessageCount: one item per source (127.0.0.2, .3); every
	// request reads it twice ("= $sht + 1", xlog) and sets it once: 12
	// requests. AuthCount (per request, REQINIT reads it once; a failed
	// authentication reads and sets it; a success deletes it):
	//   .2: OPTIONS 1 get; plain REGISTER 1+1 get, 1 set; with credentials 1 get, 1 delete
	//   .3: 6 failures 6*(1+1) get, 6 set; 3 rate-limited 3 get
	//   RPC: htable.get nobody, htable.get 127.0.0.3: 2 get (htable.reload's
	//   load is not counted as operations)
	// and 127.0.0.3 (count 6) is its only item.
	m.family(t, "sipht_htable_items", dto.MetricType_GAUGE, map[string]float64{
		`table="AuthCount"`: 1, `table="MessageCount"`: 2})
	m.family(t, "sipht_htable_ops_total", dto.MetricType_COUNTER, map[string]float64{
		`op="get",table="MessageCount"`: 24, `op="set",table="MessageCount"`: 12,
		`op="inc",table="MessageCount"`: 0, `op="delete",table="MessageCount"`: 0,
		`op="get",table="AuthCount"`: 1 + 2 + 1 + 12 + 3 + 2, `op="set",table="AuthCount"`: 1 + 6,
		`op="inc",table="AuthCount"`: 0, `op="delete",table="AuthCount"`: 1})
	m.family(t, "sipht_htable_expired_total", dto.MetricType_COUNTER, map[string]float64{
		`table="AuthCount"`: 0, `table="MessageCount"`: 0})
	m.family(t, "sipht_htable_evicted_total", dto.MetricType_COUNTER, map[string]float64{
		`table="AuthCount"`: 0, `table="MessageCount"`: 0})
	if v, _ := m.value("sipht_htable_memory_bytes", `table="AuthCount"`); v <= 0 {
		t.Errorf("sipht_htable_memory_bytes{table=AuthCount} = %v", v)
	}
	// database: the start-up load and htable.reload, htable.store; one row each
	m.family(t, "sipht_htable_db_operations_total", dto.MetricType_COUNTER, map[string]float64{
		`op="load",table="AuthCount"`: 2, `op="save",table="AuthCount"`: 1})
	m.family(t, "sipht_htable_db_errors_total", dto.MetricType_COUNTER, map[string]float64{
		`op="load",table="AuthCount"`: 0, `op="save",table="AuthCount"`: 0})
	m.family(t, "sipht_htable_db_last_rows", dto.MetricType_GAUGE, map[string]float64{
		`op="load",table="AuthCount"`: 1, `op="save",table="AuthCount"`: 1})

	// auth: two requests without credentials (the first of .2 and of .3),
	// five wrong answers (.3's answers to its first five challenges; the
	// answer to the sixth got 429 before auth_check), one success.
	m.family(t, "sipht_auth_results_total", dto.MetricType_COUNTER, map[string]float64{
		`result="ok"`: 1, `result="error"`: 0, `result="invalid_password"`: 5, `result="user_unknown"`: 0,
		`result="stale_nonce"`: 0, `result="no_credentials"`: 2, `result="nonce_reused"`: 0,
		`result="username_expired"`: 0, `result="user_mismatch"`: 0})
	m.family(t, "sipht_auth_challenges_total", dto.MetricType_COUNTER, map[string]float64{
		`code="401"`: 7, `code="407"`: 0})
	m.family(t, "sipht_registrar_accepted_total", dto.MetricType_COUNTER, map[string]float64{"": 1})
	m.family(t, "sipht_usrloc_contacts", dto.MetricType_GAUGE, map[string]float64{`table="location"`: 1})

	// RPC: every call above, by method, transport and outcome
	m.family(t, "sipht_rpc_calls_total", dto.MetricType_COUNTER, map[string]float64{
		`method="htable.dump",outcome="ok",transport="binrpc"`:        1,
		`method="htable.get",outcome="fault",transport="binrpc"`:      1,
		`method="htable.store",outcome="ok",transport="binrpc"`:       1,
		`method="htable.reload",outcome="ok",transport="binrpc"`:      1,
		`method="<unknown>",outcome="not_found",transport="binrpc"`:   1,
		`method="htable.get",outcome="ok",transport="jsonrpc-http"`:   1,
		`method="htable.stats",outcome="ok",transport="jsonrpc-http"`: 1,
	})
	m.family(t, "sipht_rpc_call_duration_seconds", dto.MetricType_HISTOGRAM, map[string]float64{
		`transport="binrpc"`: 5, `transport="jsonrpc-http"`: 2})
	if v, _ := m.value("sipht_sip_http_connections_total", ""); v < 1 {
		t.Errorf("sipht_sip_http_connections_total = %v, want at least 1 (the scrapes and JSON-RPC)", v)
	}

	// Go runtime and process
	if v, ok := m.value("go_goroutines", ""); !ok || v < 1 {
		t.Errorf("go_goroutines = %v (present %v)", v, ok)
	}
	if v, ok := m.value("process_cpu_seconds_total", ""); !ok || v <= 0 {
		t.Errorf("process_cpu_seconds_total = %v (present %v)", v, ok)
	}
}

// TestMetricsAntiflood: pike's blocks and early drops, and htable's
// evictions (maxitems) and expirations, on examples/antiflood.cfg.
func TestMetricsAntiflood(t *testing.T) {
	sippBin(t)
	srv := startServer(t, startOptions{kind: siphtServer, bin: siphtBin(t),
		cfg: filepath.Join(repoRoot(t), "examples", "antiflood.cfg"),
		defines: []string{
			// one long pike window: the ban point is the same on every run
			"PIKE_DENSITY=3", "PIKE_UNIT=60", `PBX_IP="127.0.0.9"`,
			// room for two sources (4 slots: an insert always finds one to
			// evict), forgotten after 2 s, swept every second
			`AUTHCOUNT_HTABLE="AuthCount=>size=2;initval=0;autoexpire=2;maxitems=2"`,
			"HTABLE_TIMER=1",
		}})

	r := &caseRun{t: t, srv: srv, tr: newTranscript(), ports: map[string]int{}}
	const burst = 12
	res := runSipp(t, srv.dir, sippRun{scenario: "options.xml", srcIP: "127.0.0.8", target: srv.sipAddr(),
		args: []string{"-s", "e2e"}, calls: burst, recvTimeout: 300 * time.Millisecond})
	answered := len(replyLines(res))
	if answered == 0 || answered >= burst {
		t.Fatalf("burst: %d of %d answered, want a ban", answered, burst)
	}
	// one failed registration each from three sources: the third evicts one
	for _, src := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		registerStep(src, "alice", "wrong", 0, "", codes(401, 1)).run(r)
	}

	m := srv.scrape(t)
	// The burst: `answered` OPTIONS got 200; the next made pike report the
	// source (ALERT, ipban set, no reply); the rest were dropped before the
	// parser because the source is in ipban (early_drop_table).
	dropped := float64(burst - answered - 1)
	m.family(t, "sipht_sip_requests_received_total", dto.MetricType_COUNTER, map[string]float64{
		`method="OPTIONS"`: float64(answered + 1), `method="REGISTER"`: 3})
	m.some(t, "sipht_sip_dropped_total", map[string]float64{`reason="filtered"`: dropped})
	m.family(t, "sipht_pike_blocked_total", dto.MetricType_COUNTER, map[string]float64{"": 1})
	m.family(t, "sipht_pike_early_drops_total", dto.MetricType_COUNTER, map[string]float64{
		`reason="ban_table"`: dropped, `reason="hot"`: 0})
	if v, _ := m.value("sipht_pike_blocked_ips", ""); v != 1 {
		t.Errorf("sipht_pike_blocked_ips = %v, want 1", v)
	}
	for _, name := range []string{"sipht_pike_nodes", "sipht_pike_nodes_max"} {
		if v, _ := m.value(name, ""); v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	m.some(t, "sipht_htable_items", map[string]float64{
		`table="ipban"`: 1, `table="AuthCount"`: 2, `table="MessageCount"`: 4})
	m.family(t, "sipht_htable_evicted_total", dto.MetricType_COUNTER, map[string]float64{
		`table="AuthCount"`: 1, `table="MessageCount"`: 0, `table="ipban"`: 0})

	// two seconds later the sweeper removes the two AuthCount items
	m = srv.waitMetric(t, "sipht_htable_expired_total", `table="AuthCount"`, 2)
	m.family(t, "sipht_htable_expired_total", dto.MetricType_COUNTER, map[string]float64{
		`table="AuthCount"`: 2, `table="MessageCount"`: 0, `table="ipban"`: 0})
	m.some(t, "sipht_htable_items", map[string]float64{`table="AuthCount"`: 0})
}
