package sipio

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// floodDistinctSources sends n OPTIONS, each from its own source address
// (127.0.0.2-127.0.0.9 x ports 20000-44999, bound, used once, closed), to
// dst. processed reports how many the receiver has dealt with; the sender
// waits for it to catch up every 256 packets (bounded), so the receiver sees
// most of them rather than the kernel dropping them. It returns how many were
// sent.
func floodDistinctSources(t testing.TB, dst netip.AddrPort, n int, processed func() int) int {
	t.Helper()
	to := &syscall.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	sent := 0
	for i := 0; i < n; i++ {
		ip := [4]byte{127, 0, 0, byte(2 + i/25000)}
		port := 20000 + i%25000
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: ip}); err != nil {
			syscall.Close(fd)
			continue // port taken by someone else: skip it
		}
		msg := fmt.Sprintf("OPTIONS sip:flood@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %d.%d.%d.%d:%d;branch=z9hG4bK-f%d;rport\r\n"+
			"From: <sip:f@x>;tag=%d\r\nTo: <sip:flood@127.0.0.1>\r\nCall-ID: f%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			ip[0], ip[1], ip[2], ip[3], port, i, i, i)
		if err := syscall.Sendto(fd, []byte(msg), 0, to); err == nil {
			sent++
		}
		syscall.Close(fd)
		if sent%256 == 0 {
			catchUp(processed, sent-512)
		}
	}
	catchUp(processed, sent)
	return sent
}

// catchUp waits until processed() reaches target or stops moving (packets
// the kernel dropped never arrive), for at most a second.
func catchUp(processed func() int, target int) {
	end := time.Now().Add(time.Second)
	last, lastMove := processed(), time.Now()
	for time.Now().Before(end) {
		p := processed()
		if p >= target {
			return
		}
		if p != last {
			last, lastMove = p, time.Now()
		} else if time.Since(lastMove) > 10*time.Millisecond {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFloodDistinctSourcesHeapFlat: 100,000 requests from 100,000 distinct
// source addresses leave no per-source state behind. (sipgo's UDP transport
// keeps one pool entry per source: see TestSipgoUDPPoolGrowth.)
func TestFloodDistinctSourcesHeapFlat(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	var r srvRef
	s, addr := startServer(t, Config{Handler: okHandler(&r)}, &r)
	processed := func() int {
		st := s.Stats()
		return int(st.RequestsIn["OPTIONS"] + st.Dropped[DropQueueFull])
	}
	floodDistinctSources(t, addr, 2000, processed) // warm up pools and queues
	before := heapInUse()
	start := time.Now()
	sent := floodDistinctSources(t, addr, n, processed)
	el := time.Since(start)
	after := heapInUse()
	st := s.Stats()
	t.Logf("%d sent from distinct sources in %v; handled %d, queue-full drops %d, replies %d; heap in use %d KiB -> %d KiB",
		sent, el.Round(time.Millisecond), st.RequestsIn["OPTIONS"], st.Dropped[DropQueueFull], st.RepliesOut[200], before>>10, after>>10)
	if sent < n*9/10 {
		t.Fatalf("only %d of %d sent (source ports busy?)", sent, n)
	}
	if processed() < sent*9/10 {
		t.Fatalf("server dealt with %d of %d", processed(), sent)
	}
	if after > before+8<<20 {
		t.Fatalf("heap grew from %d KiB to %d KiB after %d distinct sources", before>>10, after>>10, sent)
	}
}

// TestSipgoUDPPoolGrowth measures (and only logs) what the same flood does to
// sipgo v1.7.3's TransportLayer: one connection-pool entry per distinct
// source, kept until the listener closes. It is the reason this package owns
// its sockets. If sipgo fixes it, the log shows it.
func TestSipgoUDPPoolGrowth(t *testing.T) {
	n := 20000 // enough to see the growth; sipgo reads slower, so more would take long
	if testing.Short() {
		n = 5000
	}
	tp := sip.NewTransportLayer(net.DefaultResolver, sip.NewParser(), nil)
	var handled counter
	tp.OnMessage(func(msg sip.Message) {
		if req, ok := msg.(*sip.Request); ok {
			tp.WriteMsg(sip.NewResponseFromRequest(req, 200, "OK", nil))
		}
		handled.Add(1)
	})
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go tp.ServeUDP(pc)
	t.Cleanup(func() { pc.Close(); tp.Close() })
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	processed := func() int { return int(handled.Load()) }
	floodDistinctSources(t, addr, 2000, processed)
	before := heapInUse()
	poolBefore := tp.Pool("udp").Size()
	sent := floodDistinctSources(t, addr, n, processed)
	after := heapInUse()
	poolAfter := tp.Pool("udp").Size()
	t.Logf("sipgo TransportLayer: %d sent, %d handled; UDP pool entries %d -> %d; heap in use %d KiB -> %d KiB (+%d B per new entry)",
		sent, handled.Load(), poolBefore, poolAfter, before>>10, after>>10, (int64(after)-int64(before))/int64(max(1, poolAfter-poolBefore)))
}
