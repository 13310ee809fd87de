package sipio

import (
	"sync/atomic"
)

// DropReason says why a received message was not handed to the handler.
type DropReason uint8

// The reasons a message is dropped. Each has its own counter.
const (
	DropFiltered     DropReason = iota // the pre-parse Filter said no (pike, ban table)
	DropQueueFull                      // every worker queue was full
	DropTooLarge                       // larger than MaxMessageSize (TCP) or unframable
	DropParseError                     // could not be parsed and could not be answered with 400
	DropBadRequest                     // could not be parsed, answered with 400
	DropTCPLimit                       // TCP connection refused: MaxConns reached
	DropShutdown                       // arrived while stopping
	DropHandlerPanic                   // the handler panicked on it
	DropReply                          // a reply that matched no request of ours and no handler wanted
	numDropReasons
)

// String returns the reason as a metric label value.
func (r DropReason) String() string {
	switch r {
	case DropFiltered:
		return "filtered"
	case DropQueueFull:
		return "queue_full"
	case DropTooLarge:
		return "too_large"
	case DropParseError:
		return "parse_error"
	case DropBadRequest:
		return "bad_request"
	case DropTCPLimit:
		return "tcp_limit"
	case DropShutdown:
		return "shutdown"
	case DropHandlerPanic:
		return "handler_panic"
	case DropReply:
		return "reply"
	}
	return "unknown"
}

// methodNames are the methods counted one by one; others count as "OTHER".
var methodNames = [...]string{
	"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE",
	"NOTIFY", "REFER", "INFO", "MESSAGE", "PRACK", "UPDATE", "PUBLISH", "KDMQ",
	"OTHER",
}

func methodIndex(m string) int {
	for i, n := range methodNames[:len(methodNames)-1] {
		if m == n {
			return i
		}
	}
	return len(methodNames) - 1
}

// counters are the live atomic counters behind Stats.
type counters struct {
	requestsIn  [len(methodNames)]atomic.Uint64
	repliesIn   atomic.Uint64
	repliesOut  [600]atomic.Uint64 // status 100..699
	requestsOut atomic.Uint64
	retransOut  atomic.Uint64
	clientTO    atomic.Uint64
	clientOK    atomic.Uint64
	parseErrors atomic.Uint64
	badReqSent  atomic.Uint64
	dropped     [numDropReasons]atomic.Uint64
	keepAlives  atomic.Uint64
	sendErrors  atomic.Uint64
	readErrors  atomic.Uint64
	tcpAccepted atomic.Uint64
	tcpDialed   atomic.Uint64
	tcpOpen     atomic.Int64
	httpConns   atomic.Uint64
}

func (c *counters) drop(r DropReason) { c.dropped[r].Add(1) }

func (c *counters) replySent(code int) {
	if code >= 100 && code <= 699 {
		c.repliesOut[code-100].Add(1)
	}
}

// Stats is a snapshot of the transport's counters, for metrics and RPC.
// Counters only grow, except TCPOpen.
type Stats struct {
	RequestsIn         map[string]uint64     // requests received and handed on, by method ("OTHER" for the rest)
	RepliesIn          uint64                // replies received (to our requests or forwarded ones)
	RepliesOut         map[int]uint64        // replies sent, by status code
	RequestsOut        uint64                // requests sent (Do, Send, Forward), first transmissions
	Retransmissions    uint64                // UDP request retransmissions (Timer E)
	ClientTimeouts     uint64                // Do calls that got no final reply in time
	ClientReplies      uint64                // final replies matched to a Do call
	ParseErrors        uint64                // messages that could not be parsed or lacked mandatory headers
	BadRequestsSent    uint64                // 400 replies sent for them
	Dropped            map[DropReason]uint64 // messages dropped, by reason
	KeepAlives         uint64                // CR LF keep-alives received
	SendErrors         uint64                // failed socket writes
	ReadErrors         uint64                // socket read errors other than shutdown
	TCPAccepted        uint64                // TCP connections accepted
	TCPDialed          uint64                // TCP connections opened by us
	TCPOpen            int64                 // TCP connections open now (SIP; HTTP ones are not counted once handed over)
	HTTPConns          uint64                // accepted TCP connections handed to the HTTP handler
	QueueLen, QueueCap int                   // messages waiting in worker queues, and their total capacity
}

// Stats returns a snapshot of the counters. It allocates (maps); call it at
// scrape time, not per message.
func (s *Server) Stats() Stats {
	c := &s.ctr
	st := Stats{
		RequestsIn:      make(map[string]uint64, len(methodNames)),
		RepliesIn:       c.repliesIn.Load(),
		RepliesOut:      make(map[int]uint64),
		RequestsOut:     c.requestsOut.Load(),
		Retransmissions: c.retransOut.Load(),
		ClientTimeouts:  c.clientTO.Load(),
		ClientReplies:   c.clientOK.Load(),
		ParseErrors:     c.parseErrors.Load(),
		BadRequestsSent: c.badReqSent.Load(),
		Dropped:         make(map[DropReason]uint64, numDropReasons),
		KeepAlives:      c.keepAlives.Load(),
		SendErrors:      c.sendErrors.Load(),
		ReadErrors:      c.readErrors.Load(),
		TCPAccepted:     c.tcpAccepted.Load(),
		TCPDialed:       c.tcpDialed.Load(),
		TCPOpen:         c.tcpOpen.Load(),
		HTTPConns:       c.httpConns.Load(),
	}
	for i := range c.requestsIn {
		if v := c.requestsIn[i].Load(); v > 0 {
			st.RequestsIn[methodNames[i]] = v
		}
	}
	for i := range c.repliesOut {
		if v := c.repliesOut[i].Load(); v > 0 {
			st.RepliesOut[i+100] = v
		}
	}
	for r := DropReason(0); r < numDropReasons; r++ {
		st.Dropped[r] = c.dropped[r].Load()
	}
	for _, q := range s.queues {
		st.QueueLen += len(q)
		st.QueueCap += cap(q)
	}
	return st
}
