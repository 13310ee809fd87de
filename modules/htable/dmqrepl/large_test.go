package dmqrepl

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

// A node started late gets a big table: between sipht nodes in 60 KB
// batches over TCP; from and to Kamailio in its {"cells":[...]} bodies of
// ~60 KB over UDP.
func TestLargeInitSync(t *testing.T) {
	if testing.Short() {
		t.Skip("big tables")
	}
	items := 50000
	if raceBuild {
		items = 10000
	}
	a := startNode(t, "127.0.0.81", nil, Options{InitSync: true})
	val := strings.Repeat("v", 100)
	for i := 0; i < items; i++ {
		a.table("n").SetStr(fmt.Sprintf("key-%06d", i), val)
	}
	start := time.Now()
	b := startNode(t, "127.0.0.82", []string{a.node.URI()}, Options{InitSync: true})
	dmqtestEventually2(t, 30*time.Second, func() bool { return b.table("n").Len() == items },
		func() string {
			sa, sb := a.rep.Stats(), b.rep.Stats()
			return fmt.Sprintf(" b has %d of %d; a: sent %d failed %d states %d pulls %d digests %d mism %d; b: recv %d applied %d failed %d digests %d mism %d; a dmq %v",
				b.table("n").Len(), items, sa.ExtSent.Load(), sa.ExtFailed.Load(), sa.StatesSent.Load(), sa.Pulls.Load(), sa.Digests.Load(), sa.DigestMismatch.Load(),
				sb.ExtReceived.Load(), sb.StatesApplied.Load(), sb.ExtFailed.Load(), sb.Digests.Load(), sb.DigestMismatch.Load(), a.node.DMQ().Counts())
		})
	t.Logf("sipht -> sipht: %d items (%d KB) in %v", items, items*120/1024, time.Since(start))
	if a.node.Srv.SIP().Stats().TCPOpen == 0 {
		t.Error("the bulk transfer did not use TCP")
	}

	// Kamailio started late gets them too (its init sync asks; the answer
	// is ~60 KB UDP bodies)
	start = time.Now()
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.83", Notify: []string{a.node.URI()}, PingInterval: 5,
		Tables: kamTables, InitSync: true, ShmMB: 256,
		Route: `if ($rm == "MESSAGE") { $sht(r=>$ci) = "k"; sl_send_reply("200", "OK"); exit; }
	if ($rm == "INFO") { sl_send_reply("200", "$shtcn(n=>**)"); exit; }`})
	ka, _ := net.ResolveUDPAddr("udp", k.Addr())
	cl := dmqtest.NewSIPClient(t)
	// (Kamailio applies bulk cells without the slot lock from two workers
	// at once, and sometimes stores a key twice: count at least)
	dmqtestEventually2(t, 30*time.Second, func() bool { return cl.Count(ka) >= items },
		func() string { return fmt.Sprintf(" kamailio has %d of %d", cl.Count(ka), items) })
	t.Logf("sipht -> kamailio: %d items in %v", items, time.Since(start))

	// and a sipht node started after Kamailio has 5,000 items of its own
	const kitems = 5000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < kitems; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			cl.Do(ka, "MESSAGE", fmt.Sprintf("kam-%05d", i), "")
		}(i)
	}
	wg.Wait()
	start = time.Now()
	c := startNode(t, "127.0.0.84", []string{k.URI()}, Options{InitSync: true})
	dmqtestEventually2(t, 30*time.Second, func() bool { return c.table("r").Len() >= kitems && c.table("n").Len() == items },
		func() string { return fmt.Sprintf(" c has r %d n %d", c.table("r").Len(), c.table("n").Len()) })
	t.Logf("kamailio + sipht -> new sipht node: %d + %d items in %v", kitems, items, time.Since(start))
	if st := a.rep.Stats(); st.KamRejected.Load() != 0 {
		t.Errorf("kamailio rejected %d (%v)", st.KamRejected.Load(), a.node.DMQ().Counts())
	}
}
