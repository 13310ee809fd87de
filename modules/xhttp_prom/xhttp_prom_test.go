package xhttp_prom

import (
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/jsonrpcs"
	_ "github.com/sipht/sipht/modules/xhttp"
)

func TestParseDecl(t *testing.T) {
	cases := []struct {
		kind Kind
		in   string
		err  string
		want string // name|labels|buckets
	}{
		{Counter, "name=cnt_first;", "", "cnt_first||"},
		{Counter, "name=cnt_third; label=method", "", "cnt_third|method|"},
		{Gauge, " name = gg ; label=method:handler:x ; ", "", "gg|method,handler,x|"},
		{Histogram, "name=h; buckets=3.1:5:6.5", "", "h||3.1,5,6.5"},
		{Histogram, "name=h2", "", "h2||0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10"},
		{Counter, "label=a", "mandatory", ""},
		{Counter, "name=1abc", "invalid metric name", ""},
		{Counter, "name=a;label=a:b:c:d", "at most 3", ""},
		{Counter, "name=a;label=le", "invalid label name", ""},
		{Counter, "name=a;buckets=1", "only histograms", ""},
		{Histogram, "name=a;buckets=2:1", "must increase", ""},
		{Histogram, "name=a;buckets=x", "not a number", ""},
		{Gauge, "name=a;name=b", "twice", ""},
		{Gauge, "name=a;color=red", "unknown attribute", ""},
		{Gauge, "name", "attribute=value", ""},
	}
	for _, c := range cases {
		m, err := parseDecl(c.kind, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		var bs []string
		for _, b := range m.buckets {
			bs = append(bs, strconv.FormatFloat(b, 'g', -1, 64))
		}
		if got := m.name + "|" + strings.Join(m.labels, ",") + "|" + strings.Join(bs, ","); got != c.want {
			t.Errorf("%q: %s, want %s", c.in, got, c.want)
		}
	}
}

func TestMetricsUpdateExpireCollect(t *testing.T) {
	c, _ := parseDecl(Counter, "name=c;label=m")
	g, _ := parseDecl(Gauge, "name=g")
	h, _ := parseDecl(Histogram, "name=h;buckets=1:2")
	ms, err := newMetrics("p_", time.Minute, []*metric{c, g, h})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newMetrics("p_", time.Minute, []*metric{c, c}); err == nil {
		t.Error("duplicate name accepted")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ms.Update(Counter, "c", OpInc, 3, []string{"INVITE"}))
	must(ms.Update(Counter, "c", OpInc, 2, []string{"INVITE"}))
	must(ms.Update(Counter, "c", OpReset, 0, []string{"BYE"}))
	must(ms.Update(Gauge, "g", OpSet, -2.5, nil))
	must(ms.Update(Histogram, "h", OpObserve, 1.5, nil))
	must(ms.Update(Histogram, "h", OpObserve, 0.5, nil))
	must(ms.Update(Histogram, "h", OpObserve, 9, nil))
	for _, bad := range []struct {
		kind Kind
		name string
		op   Op
		v    float64
		l    []string
	}{
		{Counter, "nope", OpInc, 1, nil},
		{Gauge, "c", OpSet, 1, []string{"x"}},
		{Counter, "c", OpInc, 1, nil},
		{Counter, "c", OpInc, -1, []string{"x"}},
	} {
		if err := ms.Update(bad.kind, bad.name, bad.op, bad.v, bad.l); err == nil {
			t.Errorf("update %+v accepted", bad)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ms)
	want := `# HELP p_c User-defined counter (xhttp_prom).
# TYPE p_c counter
p_c{m="BYE"} 0
p_c{m="INVITE"} 5
# HELP p_g User-defined gauge (xhttp_prom).
# TYPE p_g gauge
p_g -2.5
# HELP p_h User-defined histogram (xhttp_prom).
# TYPE p_h histogram
p_h_bucket{le="1"} 1
p_h_bucket{le="2"} 2
p_h_bucket{le="+Inf"} 3
p_h_sum 11
p_h_count 3
`
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	if buf.String() != want {
		t.Errorf("exposition:\n%s\nwant\n%s", buf.String(), want)
	}
	list := ms.List()
	for _, line := range []string{`p_c{m="INVITE"} 5`, `p_h_bucket{le="+Inf"} 3`, "p_h_sum 11", "p_g -2.5"} {
		if !strings.Contains(list, line+"\n") {
			t.Errorf("List lacks %q:\n%s", line, list)
		}
	}
	// expiry: everything was touched now
	if n := ms.Expire(time.Now().Add(-time.Minute)); n != 0 {
		t.Errorf("expired %d fresh series", n)
	}
	if n := ms.Expire(time.Now().Add(time.Second)); n != 4 {
		t.Errorf("expired %d series, want 4", n)
	}
	if ms.List() != "" {
		t.Errorf("after expiry: %q", ms.List())
	}
	// bounded label combinations
	for i := 0; i < MaxSeries; i++ {
		must(ms.Update(Counter, "c", OpInc, 1, []string{strconv.Itoa(i)}))
	}
	if err := ms.Update(Counter, "c", OpInc, 1, []string{"one too many"}); err == nil || !strings.Contains(err.Error(), "maximum") {
		t.Errorf("series beyond MaxSeries: %v", err)
	}
}

const cfg = `#!KAMAILIO
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "xhttp_prom.so"
modparam("jsonrpcs", "transport", 1)
modparam("jsonrpcs", "pretty_format", 0)
modparam("xhttp_prom", "xhttp_prom_stats", "sl:")
modparam("xhttp_prom", "prom_counter", "name=scrapes; label=path")
modparam("xhttp_prom", "prom_gauge", "name=gg")
modparam("xhttp_prom", "prom_histogram", "name=hh; label=l; buckets=0.1:1")
request_route { exit; }
event_route[xhttp:request] {
	if ($hu =~ "^/RPC") { jsonrpc_dispatch(); exit; }
	if (prom_check_uri()) {
		prom_counter_inc("scrapes", "1", "$hu");
		prom_dispatch();
		exit;
	}
	if ($hu == "/set") {
		prom_gauge_set("gg", "-2.5");
		prom_histogram_observe("hh", "0.3", "x");
		prom_counter_reset("scrapes", "reset");
		if (!prom_gauge_set("gg", "not a number")) {
			xhttp_reply("200", "OK", "text/plain", "ok");
			exit;
		}
	}
	xhttp_reply("404", "Not Found", "text/plain", "no");
}
`

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, r.Header.Get("Content-Type"), string(b)
}

// TestMetricsEndpoint scrapes /metrics through event_route[xhttp:request]
// after SIP traffic and RPC calls.
func TestMetricsEndpoint(t *testing.T) {
	r := servertest.Start(t, cfg)
	base := "http://" + r.TCP
	cl := servertest.Dial(t, r.UDP)
	for i := 0; i < 3; i++ {
		cl.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
	}
	rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("core.echo", "1", `"x"`))
	rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("xhttp_prom.counter_inc", "2", `"scrapes"`, `5`, `"rpc"`))
	rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("xhttp_prom.gauge_set", "3", `"gg"`, `7.5`))
	if code, _, body := get(t, base+"/set"); code != 200 || body != "ok" {
		t.Fatalf("/set: %d %q\n%s", code, body, r.Logs.String())
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var code int
		var ctype string
		code, ctype, body = get(t, base+"/metrics")
		if code != 200 || !strings.HasPrefix(ctype, "text/plain; version=0.0.4") {
			t.Fatalf("/metrics: %d %q", code, ctype)
		}
		if strings.Contains(body, `sipht_sip_requests_received_total{method="OPTIONS"} 3`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, re := range []string{
		`(?m)^go_goroutines \d+$`,
		`(?m)^go_memstats_heap_alloc_bytes \S+$`,
		`(?m)^process_open_fds \d+$`,
		`(?m)^sipht_sip_requests_received_total\{method="OPTIONS"\} 3$`,
		`(?m)^sipht_sip_http_connections_total [1-9]\d*$`,
		`(?m)^sipht_rpc_calls_total\{method="core.echo",outcome="ok",transport="jsonrpc-http"\} 1$`,
		`(?m)^sipht_rpc_call_duration_seconds_count\{transport="jsonrpc-http"\} [1-9]\d*$`,
		`(?m)^kamailio_scrapes\{path="/metrics"\} [1-9]\d*$`,
		`(?m)^kamailio_scrapes\{path="rpc"\} 5$`,
		`(?m)^kamailio_scrapes\{path="reset"\} 0$`,
		`(?m)^kamailio_gg -2.5$`,
		`(?m)^kamailio_hh_bucket\{l="x",le="1"\} 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	if code, _, _ := get(t, base+"/metrics?x=1"); code != 404 {
		t.Errorf("prom_check_uri accepted /metrics?x=1")
	}
	got := rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("xhttp_prom.metric_list_print", "4"))
	if !strings.Contains(got.Body, `kamailio_scrapes{path=\"rpc\"} 5\n`) {
		t.Errorf("metric_list_print: %s", got.Body)
	}
	got = rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("xhttp_prom.counter_inc", "5", `"nope"`, `1`))
	if !strings.Contains(got.Body, `no metric \"nope\"`) {
		t.Errorf("counter_inc on an unknown metric: %s %s", got.Status, got.Body)
	}
	if !strings.Contains(r.Logs.String(), "xhttp_prom_stats has no effect") {
		t.Errorf("no notice about xhttp_prom_stats")
	}
}

func TestConfigErrors(t *testing.T) {
	load := func(src string) error {
		_, err := server.Load(server.Options{Source: []byte(src), Logger: slog.New(logging.NewTextHandler(io.Discard, logging.LevelWarn))})
		return err
	}
	head := "listen=tcp:127.0.0.1:0\nloadmodule \"xhttp.so\"\nloadmodule \"xhttp_prom.so\"\nmodparam(\"xhttp_prom\", \"prom_counter\", \"name=c; label=a\")\n"
	for src, want := range map[string]string{
		"listen=udp:127.0.0.1:0\nloadmodule \"xhttp_prom.so\"\n":                                "needs the xhttp module",
		head + "event_route[xhttp:request] { prom_counter_inc(\"nope\", \"1\"); }\n":            "no counter \"nope\"",
		head + "event_route[xhttp:request] { prom_counter_inc(\"c\", \"1\"); }\n":               "has 1 labels, 0 values",
		head + "event_route[xhttp:request] { prom_gauge_set(\"c\", \"1\", \"x\"); }\n":          "is a counter, not a gauge",
		head + "modparam(\"xhttp_prom\", \"prom_gauge\", \"name=c\")\n":                         "declared twice",
		head + "modparam(\"xhttp_prom\", \"xhttp_prom_beginning\", \"9x\")\n":                   "cannot start a metric name",
		head + "event_route[xhttp:request] { prom_counter_inc(\"c\", \"1\", \"a\", \"b\"); }\n": "has 1 labels, 2 values",
	} {
		if err := load(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}
