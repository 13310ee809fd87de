package dmqtest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SIPClient sends SIP requests over UDP from 127.0.0.50 and matches the
// replies by Call-ID (many requests may wait at once).
type SIPClient struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	waiting map[string]chan string
	seq     atomic.Uint64
}

// NewSIPClient opens a client; it is closed at the end of the test.
func NewSIPClient(t testing.TB) *SIPClient {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 50)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	cl := &SIPClient{conn: c, waiting: map[string]chan string{}}
	go cl.read()
	t.Cleanup(func() { c.Close() })
	return cl
}

func (c *SIPClient) read() {
	buf := make([]byte, 65536)
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		i := strings.Index(msg, "\r\nCall-ID: ")
		if i < 0 {
			continue
		}
		id := msg[i+11:]
		if j := strings.Index(id, "\r\n"); j >= 0 {
			id = id[:j]
		}
		c.mu.Lock()
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- msg[:strings.Index(msg, "\r\n")]
		}
	}
}

// Do sends a request (extra header lines in hdr, each ending in CRLF) and
// returns the status line of its reply ("" after 2 s).
func (c *SIPClient) Do(to *net.UDPAddr, method, callID, hdr string) string {
	ch := make(chan string, 1)
	c.mu.Lock()
	c.waiting[callID] = ch
	c.mu.Unlock()
	s := c.seq.Add(1)
	local := c.conn.LocalAddr().String()
	msg := fmt.Sprintf("%s sip:bench@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-b%d;rport\r\nFrom: <sip:b@%s>;tag=%d\r\nTo: <sip:bench@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
		method, to, local, s, local, s, to, callID, method, hdr)
	c.conn.WriteToUDP([]byte(msg), to)
	select {
	case line := <-ch:
		return line
	case <-time.After(2 * time.Second):
		c.mu.Lock()
		delete(c.waiting, callID)
		c.mu.Unlock()
		return ""
	}
}

// Seq returns a fresh number (for Call-IDs).
func (c *SIPClient) Seq() uint64 { return c.seq.Add(1) }

// Count sends INFO and returns the number in the reason phrase of a 200
// (configs answer `sl_send_reply("200", "$shtcn(t=>**)")`).
func (c *SIPClient) Count(to *net.UDPAddr) int {
	line := c.Do(to, "INFO", fmt.Sprintf("cnt-%d", c.Seq()), "")
	n, _ := strconv.Atoi(strings.TrimPrefix(line, "SIP/2.0 200 "))
	return n
}
