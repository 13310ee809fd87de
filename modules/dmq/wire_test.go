package dmq_test

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/modules/dmq"
	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

// fakePeer is a UDP socket playing a DMQ node.
type fakePeer struct {
	t    *testing.T
	conn *net.UDPConn
	addr string
}

func newFakePeer(t *testing.T, ip string) *fakePeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakePeer{t: t, conn: c, addr: c.LocalAddr().String()}
}

func (p *fakePeer) send(to, msg string) {
	p.t.Helper()
	ua, _ := net.ResolveUDPAddr("udp", to)
	if _, err := p.conn.WriteToUDP([]byte(msg), ua); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next datagram ("" after d).
func (p *fakePeer) read(d time.Duration) string {
	p.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 65536)
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// readMatching skips datagrams until one starts with prefix.
func (p *fakePeer) readMatching(prefix string, d time.Duration) string {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := p.read(time.Until(deadline))
		if strings.HasPrefix(m, prefix) {
			return m
		}
	}
	return ""
}

// kdmq builds a KDMQ request from the fake peer.
func (p *fakePeer) kdmq(channel, to, body, ctype string, maxfwd int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "KDMQ sip:%s@%s SIP/2.0\r\n", channel, to)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\n", p.addr, time.Now().UnixNano())
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", channel, to)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=fp1\r\n", channel, p.addr)
	b.WriteString("CSeq: 10 KDMQ\r\n")
	fmt.Fprintf(&b, "Call-ID: fake-%d@%s\r\n", time.Now().UnixNano(), p.addr)
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	b.WriteString("User-Agent: kamailio (5.6.3 (x86_64/linux))\r\n")
	fmt.Fprintf(&b, "Max-Forwards: %d\r\n", maxfwd)
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// join makes the fake peer an active node of n's list.
func (p *fakePeer) join(n *dmqtest.Node) string {
	p.t.Helper()
	p.send(n.Addr(), p.kdmq("notification_peer", n.Addr(), "sip:"+p.addr+";status=active\r\n", "text/plain", 2))
	return p.readMatching("SIP/2.0 ", 3*time.Second)
}

var (
	reBranch = regexp.MustCompile(`branch=z9hG4bK[^;\r\n]*`)
	reTag    = regexp.MustCompile(`tag=[^;\r\n]*`)
	reCallID = regexp.MustCompile(`(?m)^Call-ID: .*$`)
)

func normalize(m string) string {
	m = reBranch.ReplaceAllString(m, "branch=BRANCH")
	m = reTag.ReplaceAllString(m, "tag=TAG")
	return reCallID.ReplaceAllString(m, "Call-ID: CALLID")
}

// The KDMQ request sipht sends is Kamailio 5.6.3's captured request, byte
// for byte but for the random branch, tag and Call-ID (with
// sipht_extensions 0 and Kamailio's User-Agent, as a Kamailio node).
func TestKDMQRequestMatchesCapture(t *testing.T) {
	n := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.31",
		DMQParams: []string{`"sipht_extensions", 0`},
		Before:    "user_agent_header=\"User-Agent: kamailio (5.6.3 (x86_64/linux))\"\n"})
	ch, err := n.DMQ().Register(dmq.Peer{Channel: "htable", Handle: func(*dmq.Request) dmq.Response { return dmq.RespOK }})
	if err != nil {
		t.Fatal(err)
	}
	p := newFakePeer(t, "127.0.0.32")
	reply := p.join(n)
	if !strings.HasPrefix(reply, "SIP/2.0 200 OK\r\n") {
		t.Fatalf("notification reply:\n%s", reply)
	}
	body := `{"action":2,"htname":"r","cname":"alice","type":2,"strval":"hello","mode":1}`
	ch.Broadcast([]byte(body), "application/json", dmq.SendOptions{})
	got := p.readMatching("KDMQ sip:htable@", 3*time.Second)
	want := "KDMQ sip:htable@" + p.addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + n.Addr() + ";branch=z9hG4bK40db.65643494000000000000000000000000.0\r\n" +
		"To: <sip:htable@" + p.addr + ">\r\n" +
		"From: <sip:htable@" + n.Addr() + ">;tag=66e421cfddb5f1d877da4001972e9614-0a2b6a61\r\n" +
		"CSeq: 10 KDMQ\r\n" +
		"Call-ID: 54d1dfb4002a5383-10482@127.0.0.1\r\n" +
		"Content-Length: 76\r\n" +
		"User-Agent: kamailio (5.6.3 (x86_64/linux))\r\n" +
		"Max-Forwards: 1\r\n" +
		"Content-Type: application/json\r\n" +
		"\r\n" + body
	if normalize(got) != normalize(want) {
		t.Fatalf("KDMQ request\n%s\nwant (Kamailio 5.6.3 capture)\n%s", got, want)
	}
}

// The node-list exchange: sipht answers a notification with 200, its list
// (text/plain, CRLF lines) and the Server header, and its own list names
// the peer once it is known.
func TestNotificationExchange(t *testing.T) {
	n := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.33", DMQParams: []string{`"ping_interval", 1`}})
	p := newFakePeer(t, "127.0.0.34")
	reply := p.join(n)
	for _, want := range []string{"SIP/2.0 200 OK\r\n", "Content-Type: text/plain\r\n", "\r\nServer: ",
		"sip:" + p.addr + ";status=active\r\n", "sip:" + n.Addr() + ";status=active\r\n", "X-Sipht-DMQ: 1;inc="} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply lacks %q:\n%s", want, reply)
		}
	}
	if !regexp.MustCompile(`(?m)^To: <sip:notification_peer@[^>]*>;tag=`).MatchString(reply) {
		t.Errorf("no To-tag:\n%s", reply)
	}
	// the peer is in the list, active, and not a sipht node
	var found bool
	for _, ni := range n.DMQ().Nodes() {
		if ni.URI.String() == "sip:"+p.addr {
			found = ni.Status == dmq.StatusActive && !ni.Sipht
		}
	}
	if !found {
		t.Errorf("peer not active in %+v", n.DMQ().Nodes())
	}
	// pings come every ping_interval with Max-Forwards 1 and our list
	ping := p.readMatching("KDMQ sip:notification_peer@", 3*time.Second)
	if !strings.Contains(ping, "\r\nMax-Forwards: 1\r\n") || !strings.Contains(ping, "sip:"+n.Addr()+";status=active\r\n") {
		t.Errorf("ping:\n%s", ping)
	}
}

// Bad input on the DMQ level: unknown channels get 404 User Not Found, a
// node list with garbage still gets 200 (and the garbage is counted), a
// request without a channel is dropped; nothing crashes.
func TestBadInput(t *testing.T) {
	n := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.35"})
	p := newFakePeer(t, "127.0.0.36")
	p.send(n.Addr(), p.kdmq("no_such_channel", n.Addr(), "x", "text/plain", 1))
	if r := p.readMatching("SIP/2.0", 3*time.Second); !strings.HasPrefix(r, "SIP/2.0 404 User Not Found\r\n") {
		t.Errorf("unknown channel:\n%s", r)
	}
	p.send(n.Addr(), p.kdmq("notification_peer", n.Addr(), "garbage\r\nsip:1.2.3.4:5;status=bogus\r\n\x00\xff\r\n", "text/plain", 2))
	if r := p.readMatching("SIP/2.0", 3*time.Second); !strings.HasPrefix(r, "SIP/2.0 200 OK\r\n") {
		t.Errorf("garbage node list:\n%s", r)
	}
	if c := n.DMQ().Counts()["bad_node_lines"]; c < 2 {
		t.Errorf("bad lines counted %d", c)
	}
	// R-URI without a user part: Kamailio's dmq_handle_message fails, no reply
	raw := p.kdmq("notification_peer", n.Addr(), "", "", 1)
	raw = strings.Replace(raw, "KDMQ sip:notification_peer@", "KDMQ sip:", 1)
	p.send(n.Addr(), raw)
	if r := p.read(300 * time.Millisecond); r != "" && !strings.HasPrefix(r, "KDMQ") {
		t.Errorf("reply to a channel-less request:\n%s", r)
	}
	// a huge node list (a 60 KB body of lines)
	var big strings.Builder
	for i := 0; big.Len() < 60000; i++ {
		fmt.Fprintf(&big, "sip:10.%d.%d.%d:5060;status=pending\r\n", i>>16&255, i>>8&255, i&255)
	}
	p.send(n.Addr(), p.kdmq("notification_peer", n.Addr(), big.String(), "text/plain", 1))
	if r := p.readMatching("SIP/2.0", 5*time.Second); !strings.HasPrefix(r, "SIP/2.0 200 OK") {
		t.Errorf("big node list:\n%.200s", r)
	}
	if c := n.DMQ().Counts()["recv/<unknown>/404"]; c != 1 {
		t.Errorf("404s counted %d", c)
	}
}

// KDMQ requests to a node that stopped answering give up after
// request_timeout (no 32 s transaction), a full queue drops and counts,
// and nothing lingers afterwards; the silent node is disabled, then
// deleted.
func TestDeadNodeBounded(t *testing.T) {
	n := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.37",
		DMQParams: []string{`"request_timeout", 300`, `"queue_size", 500`, `"window", 16`, `"ping_interval", 1`}})
	ch, err := n.DMQ().Register(dmq.Peer{Channel: "htable", Handle: func(*dmq.Request) dmq.Response { return dmq.RespOK }})
	if err != nil {
		t.Fatal(err)
	}
	p := newFakePeer(t, "127.0.0.38")
	p.join(n)
	p.conn.Close() // silent from now on
	base := runtime.NumGoroutine()
	var mu sync.Mutex
	codes := map[int]int{}
	var drops int
	start := time.Now()
	for i := 0; i < 2000; i++ {
		ch.Broadcast([]byte(`{"action":1}`), "application/json", dmq.SendOptions{Done: func(_ *dmq.Node, code int, _ *sip.Response, err error) {
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, dmq.ErrQueueFull) {
				drops++
				return
			}
			codes[code]++
		}})
	}
	dmqtest.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := drops
		for _, c := range codes {
			total += c
		}
		return total >= 2000 || statusOf(n.DMQ(), "sip:"+p.addr) == "absent"
	}, "outcomes: %v drops %d", codes, drops)
	elapsed := time.Since(start)
	mu.Lock()
	t.Logf("after %v: codes %v, dropped %d", elapsed, codes, drops)
	if drops == 0 {
		t.Error("a 500-message queue took 2000 messages without dropping")
	}
	for code := range codes {
		if code != 408 && code != 0 {
			t.Errorf("code %d from a silent node", code)
		}
	}
	mu.Unlock()
	dmqtest.Eventually(t, 10*time.Second, func() bool { return statusOf(n.DMQ(), "sip:"+p.addr) == "absent" },
		"silent node still %s", statusOf(n.DMQ(), "sip:"+p.addr))
	dmqtest.Eventually(t, 10*time.Second, func() bool { return runtime.NumGoroutine() <= base+2 },
		"goroutines %d, were %d", runtime.NumGoroutine(), base)
	if n.DMQ().Counts()["queue_dropped"] == 0 {
		t.Error("drops not counted")
	}
}
