package htable

import (
	"io"
	"sync"
	"testing"

	"github.com/sipht/sipht/internal/rpc/ctlcli"
)

// TestConcurrentScriptAndRPC runs the script on several worker contexts at
// once ($shtinc, sht_lock read-modify-write, iterators, pattern removal)
// while RPC dumps, stats and sets run: no race (run with -race), no
// deadlock, and the locked counter loses no update.
func TestConcurrentScriptAndRPC(t *testing.T) {
	const workers, rounds = 4, 300
	r, ctl, _ := startSipht(t, []string{"c=>size=4;initval=0;autoexpire=3600", "it=>size=2"}, `
request_route {
	$var(x) = $shtinc(c=>inc);
	sht_lock("c=>locked");
	$sht(c=>locked) = $sht(c=>locked) + 1;
	sht_unlock("c=>locked");
	$sht(it=>k$var(x)) = $var(x);
	sht_iterator_start("i", "it");
	while (sht_iterator_next("i")) { if ($shtitval(i) < $var(x) - 20) { sht_iterator_rm("i"); } }
	sht_iterator_end("i");
	sht_rm_name_re("it=>^zz");
	exit;
}
`)
	prog := r.Srv.Program
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := prog.NewCtx()
			for range rounds {
				c.Reset(nil)
				prog.RequestRoute().Run(c)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 30 {
			for _, args := range [][]string{{"htable.dump", "it"}, {"htable.stats"}, {"htable.sets", "it", "zz", "x"}, {"htable.list", "c"}} {
				ctlcli.Main(append([]string{"-s", ctl}, args...), io.Discard, io.Discard)
			}
			modOf(r).Table("c").Sweep()
		}
	}()
	wg.Wait()
	c := modOf(r).Table("c")
	if v, _ := c.Get("inc"); v.Int() != workers*rounds {
		t.Errorf("inc = %v, want %d", v, workers*rounds)
	}
	if v, _ := c.Get("locked"); v.Int() != workers*rounds {
		t.Errorf("locked counter = %v, want %d (sht_lock must serialise the read-modify-write)", v, workers*rounds)
	}
}
