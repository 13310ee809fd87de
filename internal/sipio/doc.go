// Package sipio connects sipht to the network: SIP listeners built on
// sipgo's parser and message types, the received message with where it came
// from, and stateless sending of replies and requests. Nothing here keeps a
// transaction.
//
// # Using it
//
//	specs, err := sipio.ParseListen("udp:127.0.0.1:5060") // one per listen= line
//	srv, err := sipio.NewServer(sipio.Config{Listen: specs, Handler: h, Filter: pike})
//	err = srv.Start(ctx)
//	...
//	err = srv.Stop(ctx) // stop reading, finish queued messages, close sockets
//
// The Handler runs on one of Config.Workers goroutines (Msg.Worker says
// which) for every request and for every reply that is not the answer to one
// of our own requests. It answers with Respond (Kamailio's sl_send_reply,
// built by hand), or NewResponse + Reply (a sipgo Response), relays with
// Forward / ForwardReply, and may send requests with Do (wait for the final
// reply) or Send (fire and forget). Stats returns the counters for metrics.
//
// # Why this package owns its sockets
//
// sipgo's transport layer (sip.NewTransportLayer + OnMessage + WriteMsg, the
// stateless path recommended by the ecosystem survey) was measured against
// read loops of our own that still use sipgo's parser. The own loops won:
//
//   - UDP memory: sipgo's UDP transport adds a connection-pool entry for every
//     distinct source ip:port and never removes it while the listener lives.
//     A flood from distinct sources (TestSipgoUDPPoolGrowth, 20,000 sources):
//     pool 1,722 -> 15,699 entries, about 160 bytes of heap each, kept; a
//     100,000-source run grew the pool to 78,117 entries and the heap by
//     9.6 MiB. The same 100,000-source flood against this package
//     (TestFloodDistinctSourcesHeapFlat) leaves the heap flat (435 KiB ->
//     1,089 KiB, no per-source state). The pool is internal to sipgo, so it
//     cannot be bounded from outside.
//   - Throughput, OPTIONS -> 200 over UDP loopback, client in the same
//     process, 2 vCPUs shared with other work (BenchmarkUDPOptionsThroughput,
//     20,000 requests, two runs): this package 53,800-64,300 req/s, 24
//     allocs/request; sipgo TransportLayer 25,600-31,800 req/s, 60 allocs;
//     sipgo.Server 15,700-20,400 req/s, 73 allocs and 67 MiB of heap still
//     held afterwards (a server transaction per request for Timer J, 32 s).
//   - sipgo's handler runs on the read goroutine, its read filter ends the UDP
//     read loop when it returns an error, its receive buffer is 32 KiB and its
//     UDP send limit 1,300 bytes (ErrUDPMTUCongestion), all three global
//     variables; OnMessage does not say which local socket a message came in
//     on; the raw bytes are gone after parsing; an unparsable message is logged
//     at error level with its full text and never answered.
//
// What is used from sipgo: the parser, in lazy mode (headers stay raw
// name/value pairs until asked for; only Content-Length is parsed, to find
// the end of a datagram's body), the message and header types, URI parsing
// and serialisation of requests. Measured (BenchmarkParse): OPTIONS 2.0 us /
// 24 allocs lazy versus 3.1 us / 23 allocs with sipgo's default header
// parsers; REGISTER with Authorization 4.1 us / 35 allocs versus 5.2 us / 36.
// Replies are not built with sipgo: AppendResponse takes 0.34-0.54 us and no
// allocation, sipgo's NewResponseFromRequest + serialisation 2.3-4.1 us and
// 27 allocations (BenchmarkReply).
//
// Note for code using sipgo helpers on messages from this package: with the
// lazy parser, sip.NewResponseFromRequest applies rport/received and the
// To-tag to parsed copies that are never serialised, and it needs
// Request.Source, which is not set here. Use NewResponse (or Respond).
//
// # Threads and queues
//
// Each UDP socket has one reader goroutine (a 64 KiB buffer: datagrams up
// to 65,535 bytes are read whole). Each TCP connection has one reader that
// frames messages by Content-Length (MaxMessageSize, default 65,535), answers
// CRLFCRLF keep-alive pings with CRLF, and closes the connection on a stream
// it cannot frame. A reader runs the pre-parse Filter (pike, ban tables),
// recognises replies to our own Do requests (so a Do made inside a handler
// cannot deadlock the workers), copies the message into a pooled buffer and
// queues it: UDP to the first worker queue with room, round-robin, never
// blocking (dropped and counted when all are full); TCP always to the
// connection's own worker, which keeps the connection's order, waiting at
// most TCPConfig.EnqueueTimeout. Workers parse, check that Via, From, To,
// Call-ID and CSeq are there (the values a reply copies), and call the
// Handler; a panicking handler is recovered and counted.
//
// A message that cannot be parsed, or lacks those headers, is answered with
// "400 Bad Request" built from its raw header lines when a top Via, Call-ID
// and CSeq (not ACK) can still be found, and dropped otherwise; both are
// counted. Kamailio 5.6 silently drops such requests.
//
// TCP connections (accepted and dialled) are bounded by TCPConfig.MaxConns,
// closed after IdleTimeout without traffic, and a message must arrive
// completely within ReadTimeout of its first byte.
//
// # HTTP on SIP TCP sockets (xhttp)
//
// With SetHTTPHandler installed, the reader of each accepted TCP
// connection looks at its first line before framing: a line ending in
// " HTTP/1.0" or " HTTP/1.1" after an upper-case method token hands the
// whole connection (with the bytes already read) to the handler and
// removes it from the SIP connection table; anything else is SIP and is
// framed as always. Only the first line of a connection is looked at,
// dialled connections never, and nothing at all without a handler, so SIP
// over TCP is unaffected. Exec runs a function on a worker goroutine, so
// that such input runs script routes with the workers' state, as
// Kamailio's xhttp does in its SIP worker processes.
//
// # Replies (Kamailio compatibility)
//
// Respond builds what Kamailio 5.6's sl_send_reply builds, byte for byte
// (TestRepliesMatchKamailio runs the real Kamailio): the request's Via
// headers, Record-Route for codes 180-299, From, To, Call-ID and CSeq in
// request order, with names as written (compact forms stay compact); then
// extra headers, Content-Type, Server (Config.ServerHeader) and
// Content-Length. The top Via gets rport=<source port> in place when the
// request asked for rport (or ForceRport is set: appended), and
// received=<source ip> when it asked for rport, already had a received, or
// its host is not the source IP. A To without tag gets one for codes >= 180:
// a 32-hex-digit prefix fixed per server, '.', 8 hex digits hashed from the
// top Via host, port and branch (so retransmissions get the same tag and
// IsLocalToTag recognises the ACK). Over UDP the reply leaves from the socket
// the request came in on, to the source IP and the source port when rport
// applies, else the Via port, else 5060; over TCP on the request's
// connection, or on a new one to the source IP and the Via port (RFC 3261
// §18.2.2).
//
// Differences from Kamailio 5.6, each a Kamailio bug: with several Via hops
// on one line Kamailio appends received= to the last hop (we put it on the
// first); an upper-case RPORT parameter is mangled by Kamailio into
// "R<port>" with no received (we write RPORT=<port>;received=...); a listen
// port above 65535 is wrapped modulo 65536 by Kamailio (an error here); tls
// and sctp listens are silently ignored by Kamailio when disabled (an error
// here); unparsable requests get a 400 here. Forward appends received/rport
// at the end of the previous hop where Kamailio inserts them first.
//
// Every value written into a message (reason phrase, extra headers, content
// type, To-tag, and the request headers copied) is checked for CR, LF and NUL
// (CheckHeaderValue); messages serialised by sipgo are checked as a whole
// (no bare CR/LF/NUL, exactly one line per header) before they are sent,
// because sipgo does not validate what it writes.
//
// # Stateless client
//
// Do sends a non-INVITE request (KDMQ) and waits for its final reply,
// matching by top Via branch and CSeq method, without a transaction: over UDP
// with RFC 3261 Timer E retransmissions (T1 doubling to T2, T2 once a
// provisional reply came), over TCP once on a reused or new connection; it
// gives up after ClientConfig.Timeout (default 5 s, not Timer F's 32 s). At
// most ClientConfig.MaxPending calls wait at once. Requests up to 65,507
// bytes go over UDP (no MTU limit is imposed); larger ones need TCP.
//
// # Limits
//
// UDP and TCP only (no TLS, WebSocket, SCTP). The local address of a message
// is the socket's bound address: for a wildcard listen (0.0.0.0) it is
// 0.0.0.0 (no IP_PKTINFO). `advertise` is parsed but not yet used in Via.
// Reply routing and ForwardReply do not resolve names (IP literals only).
package sipio
