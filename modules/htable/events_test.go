package htable

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sipht/sipht/internal/servertest"
)

// kitOf returns the test kit of a running server.
func kitOf(r *servertest.Running) *kit {
	k, _ := r.Srv.Module("htkit")
	return k.(*kit)
}

func modOf(r *servertest.Running) *Module {
	m, _ := r.Srv.Module("htable")
	return m.(*Module)
}

// waitLines waits until the kit has collected a line containing each of
// want (in any order) and returns everything collected.
func waitLines(t *testing.T, k *kit, timeout time.Duration, want ...string) []string {
	t.Helper()
	var all []string
	deadline := time.Now().Add(timeout)
	for {
		all = append(all, k.take()...)
		missing := ""
		for _, w := range want {
			if !slices.ContainsFunc(all, func(l string) bool { return strings.Contains(l, w) }) {
				missing = w
				break
			}
		}
		if missing == "" {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q after %v; got %q", missing, timeout, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestModInitRoute(t *testing.T) {
	registerKit()
	r := servertest.Start(t, config([]string{"a=>size=4"}, `
event_route[htable:mod-init] {
	$sht(a=>boot) = "yes";
	xlog("mod-init ran, rc=$rc record=[$shtrecord(key)]\n");
}
request_route { exit; }
`))
	lines := kitOf(r).take()
	if len(lines) != 1 || lines[0] != "mod-init ran, rc=0 record=[<null>]" {
		t.Fatalf("lines %q", lines)
	}
	if v, _ := modOf(r).Table("a").Get("boot"); v.Str() != "yes" {
		t.Fatalf("boot = %v", v)
	}
	select {
	case <-modOf(r).Started():
	default:
		t.Fatal("Started not closed")
	}
}

func TestModInitDropAbortsStart(t *testing.T) {
	registerKit()
	srv, err := loadErr(config([]string{"a=>size=4"}, `
event_route[htable:mod-init] { drop; }
request_route { exit; }
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "drop") {
		t.Fatalf("Run: %v", err)
	}
}

// TestExpiredRoute: the sweeper runs event_route[htable:expired:<t>] for
// each expired item with $shtrecord(key) and $shtrecord(value), on its own
// context; an item the route refreshes is kept.
func TestExpiredRoute(t *testing.T) {
	registerKit()
	r := servertest.Start(t, config([]string{"e=>size=4;autoexpire=1", "seen=>size=4"}, `
modparam("htable", "timer_interval", 1)
event_route[htable:mod-init] {
	$sht(e=>k1) = "v1";
	$sht(e=>k2) = 5;
	$sht(e=>keep) = "old";
}
event_route[htable:expired:e] {
	xlog("expired $shtrecord(key)=$shtrecord(value) still=[$sht(e=>$shtrecord(key))]\n");
	$sht(seen=>$shtrecord(key)) = $shtrecord(value);
	if ($shtrecord(key) == "keep") {
		$sht(e=>keep) = "new";
		$shtex(e=>keep) = 0;
	}
}
request_route { exit; }
`))
	lines := waitLines(t, kitOf(r), 10*time.Second, "expired k1=v1", "expired k2=5", "expired keep=old")
	for _, l := range lines {
		if !strings.HasSuffix(l, "still=[<null>]") {
			t.Errorf("the expired item is visible in its route: %q", l)
		}
	}
	m := modOf(r)
	if v, _ := m.Table("seen").Get("k2"); v.Int() != 5 {
		t.Errorf("seen k2 = %v", v)
	}
	time.Sleep(1100 * time.Millisecond) // one more sweep
	if v, ok := m.Table("e").Get("keep"); !ok || v.Str() != "new" {
		t.Errorf("refreshed item: %v %v", v, ok)
	}
	if _, ok := m.Table("e").Get("k1"); ok {
		t.Errorf("k1 not removed")
	}
	if st := m.Table("e").Stats(); st.Expired != 2 {
		t.Errorf("expired counter %d, want 2", st.Expired)
	}
}

func TestMetrics(t *testing.T) {
	registerKit()
	e := load(t, config([]string{"a=>size=4", "b=>size=2;maxitems=1"}, body(`
$sht(a=>x) = 1; $sht(a=>y) = "s"; $var(v) = $sht(a=>x); $var(v) = $shtinc(a=>x); $sht(a=>y) = $null;
$sht(b=>1) = 1; $sht(b=>2) = 2;`)))
	e.run()
	got := gather(t, e.srv.Metrics.Gather)
	for _, w := range []string{
		`sipht_htable_items{table="a"} 1`,
		`sipht_htable_items{table="b"} 1`,
		`sipht_htable_ops_total{op="delete",table="a"} 1`,
		`sipht_htable_ops_total{op="get",table="a"} 1`,
		`sipht_htable_ops_total{op="inc",table="a"} 1`,
		`sipht_htable_ops_total{op="set",table="a"} 2`,
		`sipht_htable_ops_total{op="set",table="b"} 2`,
		`sipht_htable_evicted_total{table="b"} 1`,
		`sipht_htable_expired_total{table="a"} 0`,
	} {
		if !slices.Contains(got, w) {
			t.Errorf("missing %s in\n%s", w, strings.Join(got, "\n"))
		}
	}
	if !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, `sipht_htable_memory_bytes{table="a"} `) }) {
		t.Errorf("no memory gauge")
	}
}

// gather renders the sipht_htable_* series as `name{l="v",...} value`.
func gather(t *testing.T, g func() ([]*dto.MetricFamily, error)) []string {
	t.Helper()
	fams, err := g()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "sipht_htable_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			v := m.GetGauge().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			out = append(out, f.GetName()+"{"+strings.Join(ls, ",")+"} "+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	return out
}
