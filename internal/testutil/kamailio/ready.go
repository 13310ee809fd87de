package kamailio

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// LogHas returns a Ready function that waits for s in Kamailio's output
// ("child_init": the workers started).
func LogHas(s string) func(*Process) bool {
	return func(p *Process) bool { return strings.Contains(p.Log(), s) }
}

// Listening returns a Ready function that waits until every address
// answers a connection: "unix:/path" (a stream socket), "tcp:host:port",
// or "file:/path" (a datagram socket or FIFO, which must exist).
func Listening(addrs ...string) func(*Process) bool {
	return func(*Process) bool {
		for _, a := range addrs {
			network, addr, _ := strings.Cut(a, ":")
			if network == "file" {
				if _, err := os.Stat(addr); err != nil {
					return false
				}
				continue
			}
			c, err := net.Dial(network, addr)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	}
}

// AnswersOptions returns a Ready function that sends an OPTIONS to the UDP
// address addr and waits up to 200 ms for any reply.
func AnswersOptions(addr string) func(*Process) bool {
	i := 0
	return func(*Process) bool {
		i++
		c, err := net.Dial("udp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		la := c.LocalAddr().String()
		msg := fmt.Sprintf("OPTIONS sip:ping@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ready%d\r\nFrom: <sip:ready@127.0.0.1>;tag=r%d\r\n"+
			"To: <sip:ping@127.0.0.1>\r\nCall-ID: ready-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nX-Ready: ping\r\nContent-Length: 0\r\n\r\n", addr, la, i, i, i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 4096))
		return err == nil
	}
}
