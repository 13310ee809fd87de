package sipio

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Run the benchmarks (bounded: the throughput ones send b.N requests, and
// the sipgo.Server variant keeps every transaction for 32 s):
//
//	go test -run '^$' -bench . -benchmem -benchtime 20000x ./internal/sipio/

const benchRegister = "REGISTER sip:example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-74bf9;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:alice@example.com>;tag=9fxced76sl\r\n" +
	"To: <sip:alice@example.com>\r\n" +
	"Call-ID: 3848276298220188511@192.0.2.10\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600\r\n" +
	"Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"Y2hhbGxlbmdl\", uri=\"sip:example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"\r\n" +
	"User-Agent: bench\r\n" +
	"Content-Length: 0\r\n\r\n"

func BenchmarkParse(b *testing.B) {
	for _, msg := range []struct{ name, raw string }{{"OPTIONS", options("z9hG4bK-bench", "")}, {"REGISTER", benchRegister}} {
		for _, p := range []struct {
			name string
			p    *sip.Parser
		}{{"sipio-lazy", newParser(65535)}, {"sipgo-default", sip.NewParser()}} {
			b.Run(msg.name+"/"+p.name, func(b *testing.B) {
				raw := []byte(msg.raw)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					m, err := p.p.ParseSIP(raw)
					if err != nil {
						b.Fatal(err)
					}
					if p.name == "sipio-lazy" {
						if err := checkRequest(m.(*sip.Request)); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkReply builds a 200 for a received REGISTER: sipgo's
// NewResponseFromRequest + serialisation (on a request from sipgo's default
// parser, the only case where it is right) against AppendResponse.
func BenchmarkReply(b *testing.B) {
	s := testServer(b)
	src := netip.MustParseAddrPort("192.0.2.10:5060")
	b.Run("sipgo-NewResponseFromRequest", func(b *testing.B) {
		m, _ := sip.NewParser().ParseSIP([]byte(benchRegister))
		req := m.(*sip.Request)
		req.SetSource(src.String())
		var buf bytes.Buffer
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			res := sip.NewResponseFromRequest(req, 200, "OK", nil)
			buf.Reset()
			res.StringWrite(&buf)
		}
	})
	b.Run("sipio-AppendResponse", func(b *testing.B) {
		m := parseMsg(b, s, benchRegister, src.String())
		buf := make([]byte, 0, 2048)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var err error
			buf, err = s.AppendResponse(buf[:0], m, 200, "OK", nil)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sipio-NewResponse", func(b *testing.B) {
		m := parseMsg(b, s, benchRegister, src.String())
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := s.NewResponse(m, 200, "OK", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReceivePath is the per-message work of a worker: parse, check,
// build the reply (no socket).
func BenchmarkReceivePath(b *testing.B) {
	s := testServer(b)
	var out []byte
	s.cfg.Handler = func(m *Msg) {
		out, _ = s.AppendResponse(out[:0], m, 200, "OK", nil)
	}
	raw := []byte(options("z9hG4bK-bench", ""))
	u := &udpSocket{local: netip.MustParseAddrPort("127.0.0.1:5060")}
	w := &worker{}
	p := packet{data: raw, src: netip.MustParseAddrPort("127.0.0.1:5999"), udp: u}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.process(w, &p)
	}
}

// loadUDP sends total OPTIONS (unique branches) to dst from 4 sockets with
// 32 requests in flight each, and counts the 200s that come back.
func loadUDP(b *testing.B, dst netip.AddrPort, total int) (replies int64, el time.Duration) {
	const conns, window = 4, 32
	var got atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < conns; c++ {
		n := total / conns
		if c == 0 {
			n += total % conns
		}
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func(c int, conn *net.UDPConn) {
			defer wg.Done()
			defer conn.Close()
			port := conn.LocalAddr().(*net.UDPAddr).Port
			tmpl := []byte(fmt.Sprintf("OPTIONS sip:bench@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%d-0000000000;rport\r\n"+
				"From: <sip:b@127.0.0.1>;tag=b%d\r\nTo: <sip:bench@%s>\r\nCall-ID: bench-%d-0000000000\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
				dst, port, c, c, dst, c))
			marks := [2]int{bytes.Index(tmpl, []byte("0000000000;rport")), bytes.LastIndex(tmpl, []byte("0000000000\r\n"))}
			sent, recv := 0, 0
			send := func() {
				x := sent
				for _, at := range marks {
					for k := 9; k >= 0; k-- {
						tmpl[at+k] = byte('0' + x%10)
						x /= 10
					}
					x = sent
				}
				conn.WriteToUDPAddrPort(tmpl, dst)
				sent++
			}
			for sent < min(window, n) {
				send()
			}
			buf := make([]byte, 4096)
			for recv < n {
				conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := conn.Read(buf); err != nil {
					if sent >= n {
						return // the rest were lost
					}
					for k := 0; k < window && sent < n; k++ {
						send()
					}
					continue
				}
				recv++
				got.Add(1)
				if sent < n {
					send()
				}
			}
		}(c, conn)
	}
	wg.Wait()
	return got.Load(), time.Since(start)
}

// BenchmarkUDPOptionsThroughput answers OPTIONS with 200 over UDP loopback:
// this package's server, sipgo's bare TransportLayer (OnMessage + WriteMsg),
// and sipgo.Server (transactions), in the same run. Client and server share
// the machine's cores. Metrics: req/s, replies lost, heap after.
func BenchmarkUDPOptionsThroughput(b *testing.B) {
	b.Run("sipio", func(b *testing.B) {
		var r srvRef
		_, addr := startServer(b, Config{Handler: okHandler(&r)}, &r)
		runLoad(b, addr)
	})
	b.Run("sipgo-TransportLayer", func(b *testing.B) {
		tp := sip.NewTransportLayer(net.DefaultResolver, sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
			"content-length": sip.DefaultHeadersParser()["content-length"],
			"via":            sip.DefaultHeadersParser()["via"], "to": sip.DefaultHeadersParser()["to"],
		})), nil)
		tp.OnMessage(func(msg sip.Message) {
			if req, ok := msg.(*sip.Request); ok {
				tp.WriteMsg(sip.NewResponseFromRequest(req, 200, "OK", nil))
			}
		})
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		go tp.ServeUDP(pc)
		defer func() { pc.Close(); tp.Close() }()
		runLoad(b, pc.LocalAddr().(*net.UDPAddr).AddrPort())
	})
	b.Run("sipgo-Server", func(b *testing.B) {
		ua, err := sipgo.NewUA()
		if err != nil {
			b.Fatal(err)
		}
		defer ua.Close()
		srv, err := sipgo.NewServer(ua)
		if err != nil {
			b.Fatal(err)
		}
		srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		})
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		go srv.ServeUDP(pc)
		defer pc.Close()
		runLoad(b, pc.LocalAddr().(*net.UDPAddr).AddrPort())
	})
}

func runLoad(b *testing.B, addr netip.AddrPort) {
	b.ReportAllocs()
	b.ResetTimer()
	got, el := loadUDP(b, addr, b.N)
	b.StopTimer()
	b.ReportMetric(float64(got)/el.Seconds(), "req/s")
	b.ReportMetric(float64(int64(b.N)-got), "lost")
	b.ReportMetric(float64(heapInUse()>>20), "heapMiB")
}
