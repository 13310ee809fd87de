package dmqrepl

import (
	"strings"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

// kamTables are testDefs as Kamailio writes them (no sipht attributes).
var kamTables = []string{
	"r=>size=4;autoexpire=300;dmqreplicate=1;",
	"n=>size=4;initval=0;dmqreplicate=1;",
	"c=>size=6;autoexpire=600;initval=0;dmqreplicate=1;",
	"local=>size=2;",
}

func kamGet(t *testing.T, k *dmqtest.Kamailio, table, key string) string {
	out := k.Kamcmd(t, "htable.get", table, "s:"+key)
	if strings.Contains(out, "error") {
		return "<none>"
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "value: "); ok {
			return v
		}
	}
	return "<?>" + out
}

func eventually(t *testing.T, d time.Duration, cond func() bool, msg string, args ...func() any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			vals := make([]any, len(args))
			for i, a := range args {
				vals[i] = a()
			}
			t.Fatalf(msg, vals...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A sipht node and a Kamailio 5.6 node replicate every change kind both
// ways, and Kamailio never answers 400 or 500 to what sipht sends.
func TestKamailioInterop(t *testing.T) {
	a := startNode(t, "127.0.0.21", nil, Options{InitSync: true})
	a.table("r").SetStr("pre-sipht", "from sipht before kamailio started")
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.22", Notify: []string{a.node.URI()},
		PingInterval: 5, Tables: kamTables, InitSync: true, Debug: 2})

	// Kamailio's init sync filled it from sipht
	eventually(t, 10*time.Second, func() bool { return kamGet(t, k, "r", "pre-sipht") == "from sipht before kamailio started" },
		"kamailio init sync: %s", func() any { return kamGet(t, k, "r", "pre-sipht") })

	// kamcmd on Kamailio -> sipht
	k.Kamcmd(t, "htable.sets", "r", "s:k1", "v1")
	k.Kamcmd(t, "htable.seti", "n", "s:cnt", "5")
	k.Kamcmd(t, "htable.setxs", "r", "s:tmp", "tv", "77")
	eventually(t, 5*time.Second, func() bool {
		return get(a, "r", "k1") == "v1" && get(a, "n", "cnt") == "5" && get(a, "r", "tmp") == "tv"
	}, "kamcmd changes not on sipht: %s %s %s",
		func() any { return get(a, "r", "k1") }, func() any { return get(a, "n", "cnt") }, func() any { return get(a, "r", "tmp") })
	eventually(t, 5*time.Second, func() bool { x := a.table("r").TTL("tmp"); return x > 60 && x <= 77 },
		"setxs expiry: %d", func() any { return a.table("r").TTL("tmp") })
	k.Kamcmd(t, "htable.delete", "r", "s:k1")
	eventually(t, 5*time.Second, func() bool { return !a.table("r").Has("k1") }, "kamcmd delete not on sipht")

	// sipht -> Kamailio, every kind
	a.table("r").SetStr("s1", "hello \"world\"\t\\ é")
	a.table("n").SetInt("i1", 42)
	a.table("r").SetWithExpire("x1", ht.Str("xv"), 50)
	a.table("r").SetStr("e1", "ev")
	a.table("r").SetExpire("e1", 120)
	a.table("n").SetInt("ctr", 10)
	a.table("n").Add("ctr", 3)
	for _, key := range []string{"pa1", "pa2", "pb1"} {
		a.table("n").SetStr(key, "p")
	}
	a.table("n").SetStr("vv", "match-me")
	eventually(t, 5*time.Second, func() bool {
		return kamGet(t, k, "r", "s1") == "hello \"world\"\t\\ é" && kamGet(t, k, "n", "i1") == "42" &&
			kamGet(t, k, "r", "x1") == "xv" && kamGet(t, k, "n", "ctr") == "13" && kamGet(t, k, "n", "pb1") == "p" &&
			kamGet(t, k, "n", "vv") == "match-me"
	}, "sipht changes not on kamailio: s1=%s i1=%s x1=%s ctr=%s",
		func() any { return kamGet(t, k, "r", "s1") }, func() any { return kamGet(t, k, "n", "i1") },
		func() any { return kamGet(t, k, "r", "x1") }, func() any { return kamGet(t, k, "n", "ctr") })
	a.table("n").RemoveNames(ht.MatchPrefix, "pa")
	a.table("n").RemoveValues(ht.MatchRegex, "^MATCH")
	a.table("n").RemoveNames(ht.MatchSuffix, "b1") // DEL_CELL per key for Kamailio 5.6
	a.table("n").Delete("i1")
	eventually(t, 5*time.Second, func() bool {
		return kamGet(t, k, "n", "pa1") == "<none>" && kamGet(t, k, "n", "pa2") == "<none>" &&
			kamGet(t, k, "n", "pb1") == "<none>" && kamGet(t, k, "n", "vv") == "<none>" && kamGet(t, k, "n", "i1") == "<none>"
	}, "removals not on kamailio: %s", func() any { return k.Kamcmd(t, "htable.dump", "n") })
	exp := k.Kamcmd(t, "htable.get", "r", "s:e1")
	if !strings.Contains(exp, "expire:") || strings.Contains(exp, "NEVER") {
		t.Errorf("setex not applied on kamailio: %s", exp)
	}

	st := a.rep.Stats()
	if st.KamRejected.Load() != 0 {
		t.Errorf("kamailio rejected %d requests", st.KamRejected.Load())
	}
	if n := a.node.DMQ().Counts()["sent/htable/400"] + a.node.DMQ().Counts()["sent/htable/500"]; n != 0 {
		t.Errorf("kamailio answered 400/500 %d times", n)
	}
	if strings.Contains(k.Log(), "unrecognized field") || strings.Contains(k.Log(), "invalid json") {
		t.Errorf("kamailio complained:\n%s", k.Log())
	}
	if a.node.DMQ().Counts()["sent/htable_sipht/404"] != 0 {
		t.Errorf("the sipht extension channel reached kamailio")
	}
	t.Logf("dmq counts: %v", a.node.DMQ().Counts())
}

// A sipht node started after Kamailio is filled by its init sync.
func TestKamailioFillsLateSiphtNode(t *testing.T) {
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.23", PingInterval: 5, Tables: kamTables, InitSync: true})
	k.Kamcmd(t, "htable.sets", "r", "s:early", "bird")
	k.Kamcmd(t, "htable.seti", "n", "s:num", "7")
	a := startNode(t, "127.0.0.24", []string{k.URI()}, Options{InitSync: true})
	eventually(t, 10*time.Second, func() bool { return get(a, "r", "early") == "bird" && get(a, "n", "num") == "7" },
		"sipht init sync from kamailio: r{%s} n{%s}", func() any { return a.dump("r") }, func() any { return a.dump("n") })
	if ttl := a.table("r").TTL("early"); ttl <= 0 || ttl > 300 {
		t.Errorf("synced item ttl %d", ttl)
	}
}
