package htable

import (
	"strings"
	"testing"
)

var iterCases = []struct {
	name   string
	tables []string
	body   string
	want   []string
}{
	// Kamailio 5.6.3's order (snippet 278): slots ascending, items by hash.
	{"order", []string{"a=>size=4"}, `
$sht(a=>alice) = 1; $sht(a=>bob) = 2; $sht(a=>k2) = "k2v"; $sht(a=>15) = 15; $sht(a=>ABCdef) = "abc";
sht_iterator_start("i1", "a"); xlog("start rc=$rc\n");
while (sht_iterator_next("i1")) { xlog("$shtitkey(i1)=$shtitval(i1)\n"); }
xlog("after end of walk: [$shtitkey(i1)]\n");
sht_iterator_end("i1"); xlog("end rc=$rc\n");`,
		[]string{"start rc=1", "k2=k2v", "bob=2", "ABCdef=abc", "15=15", "alice=1", "after end of walk: [<null>]", "end rc=1"}},
	{"writes through the iterator", []string{"a=>size=4"}, `
$sht(a=>alice) = 1; $sht(a=>bob) = 2; $sht(a=>k2) = "x";
sht_iterator_start("it", "a");
while (sht_iterator_next("it")) {
	if ($shtitkey(it) == "bob") { sht_iterator_sets("it", "B"); xlog("sets rc=$rc now $shtitval(it)\n"); }
	if ($shtitkey(it) == "k2") { sht_iterator_seti("it", 22); xlog("seti rc=$rc now $shtitval(it)\n"); }
}
sht_iterator_end("it");
xlog("bob=$sht(a=>bob) k2=$sht(a=>k2)\n");`,
		[]string{"seti rc=1 now 22", "sets rc=1 now B", "bob=B k2=22"}},
	// sht_iterator_rm removes and advances (Kamailio's semantics): a loop
	// calling next after rm skips the item rm moved to, and a finished
	// walk restarts from the first slot.
	{"rm advances", []string{"a=>size=4"}, `
$sht(a=>alice) = 1; $sht(a=>bob) = 2; $sht(a=>k2) = 3;
sht_iterator_start("r", "a");
sht_iterator_next("r"); xlog("on $shtitkey(r)\n");
sht_iterator_rm("r"); xlog("rm rc=$rc on $shtitkey(r)\n");
sht_iterator_rm("r"); xlog("rm rc=$rc on $shtitkey(r)\n");
sht_iterator_rm("r"); xlog("rm at end rc=$rc [$shtitkey(r)]\n");
sht_iterator_rm("r"); xlog("rm unpositioned rc=$rc\n");
xlog("left=$shtcn(a=>**)\n");`,
		[]string{"on k2", "rm rc=1 on bob", "rm rc=1 on alice", "rm at end rc=-2 [<null>]", "rm unpositioned rc=-1", "left=0"}},
	{"restart after end", []string{"a=>size=4"}, `
$sht(a=>x) = 1;
sht_iterator_start("i", "a");
sht_iterator_next("i"); xlog("1st next rc=$rc\n");
sht_iterator_next("i"); xlog("2nd next rc=$rc\n");
sht_iterator_next("i"); xlog("3rd next rc=$rc on $shtitkey(i)\n");`,
		[]string{"1st next rc=1", "2nd next rc=-1", "3rd next rc=1 on x"}},
	{"limits and errors", []string{"a=>size=4", "e=>size=4;autoexpire=300"}, `
sht_iterator_start("i1", "a"); sht_iterator_start("i2", "a"); sht_iterator_start("i3", "a"); sht_iterator_start("i4", "a");
sht_iterator_start("i5", "a"); xlog("fifth rc=$rc\n");
sht_iterator_start("i1", "a"); xlog("restart same name rc=$rc\n");
sht_iterator_end("i4");
sht_iterator_start("x234567890123456789012345678901", "a"); xlog("31 chars rc=$rc\n");
sht_iterator_end("x234567890123456789012345678901");
sht_iterator_start("x2345678901234567890123456789012", "a"); xlog("32 chars rc=$rc\n");
sht_iterator_next("nosuch"); xlog("next unknown rc=$rc\n");
sht_iterator_end("nosuch"); xlog("end unknown rc=$rc\n");
sht_iterator_start("i4", "nosuch"); xlog("unknown table rc=$rc\n");
sht_iterator_next("i4"); xlog("next after failed start rc=$rc\n");
sht_iterator_sets("i1", "v"); xlog("sets unpositioned rc=$rc\n");
sht_iterator_end("i4");
$sht(e=>k) = 1;
sht_iterator_start("i4", "e"); sht_iterator_next("i4");
sht_iterator_setex("i4", 5); xlog("setex rc=$rc ttl=$shtex(e=>k)\n");`,
		[]string{"fifth rc=-1", "restart same name rc=1", "31 chars rc=1", "32 chars rc=-1", "next unknown rc=-1", "end unknown rc=-1",
			"unknown table rc=-1", "next after failed start rc=-1", "sets unpositioned rc=-1", "setex rc=1 ttl=5"}},
}

func TestIterators(t *testing.T) {
	for _, tc := range iterCases {
		t.Run(tc.name, func(t *testing.T) {
			e := load(t, config(tc.tables, body(tc.body)))
			got := e.run()
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s\nlogs:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), e.logs)
			}
		})
	}
}

// TestIteratorsPerWorker: iterators belong to a worker's context and
// survive from one message to the next, as Kamailio's per-process ones.
func TestIteratorsPerWorker(t *testing.T) {
	e := load(t, config([]string{"a=>size=4"}, body(`
if ($var(n) == 0) { $sht(a=>x) = 1; $sht(a=>y) = 2; sht_iterator_start("i", "a"); }
$var(n) = $var(n) + 1;
if (sht_iterator_next("i")) { xlog("$var(n): $shtitkey(i)\n"); } else { xlog("$var(n): end\n"); }`)))
	var got []string
	for range 3 {
		got = append(got, e.run()...)
	}
	other := e.srv.Program.NewCtx()
	other.Reset(nil)
	e.srv.Program.RequestRoute().Run(other)
	got = append(got, e.kit.take()...)
	want := "1: y\n2: x\n3: end\n1: y"
	if strings.Join(got, "\n") != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// TestIteratorWritesNotReplicated: iterator writes carry
// OriginUnreplicated, other script writes OriginLocal.
func TestIteratorWritesNotReplicated(t *testing.T) {
	e := load(t, config([]string{"a=>size=4"}, body(`
$sht(a=>x) = 1;
sht_iterator_start("i", "a"); sht_iterator_next("i"); sht_iterator_seti("i", 5); sht_iterator_rm("i"); sht_iterator_end("i");`)))
	var origins []string
	cancel := e.mod.Subscribe(func(c *htChange) { origins = append(origins, c.Op.String()+"/"+c.Origin.String()) })
	defer cancel()
	e.run()
	want := "set/local set/origin(16) delete/origin(16)"
	if strings.Join(origins, " ") != want {
		t.Fatalf("changes %q, want %q", origins, want)
	}
}
