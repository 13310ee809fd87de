package dmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/sipio"
)

// Peer is what a module registers to use a DMQ channel (Kamailio's
// dmq_peer_t).
type Peer struct {
	// Channel is the R-URI user part of the channel's KDMQ requests
	// ("htable"); matched exactly.
	Channel string
	// Description is informative.
	Description string
	// Handle processes a KDMQ request received on the channel, on one of
	// the num_workers DMQ goroutines (or on the SIP worker for
	// dmq_process_message). A Response with Code 0 sends no reply.
	Handle func(r *Request) Response
	// OnInit runs once after the first successful exchange with another
	// node, and again after the node re-joins from an empty list
	// (Kamailio's init_callback: htable's dmq_init_sync).
	OnInit func()
	// OnNodeUp (sipht) runs, on its own goroutine, when a node becomes
	// active, comes back after a restart (new incarnation), or first says
	// it is a sipht node. Modules use it to resynchronise a returning node.
	OnNodeUp func(n NodeInfo)
}

// Request is a received KDMQ request, as a channel's Handle sees it.
type Request struct {
	Channel     string
	Body        []byte
	ContentType string
	// MaxForwards is the request's Max-Forwards (0 when absent).
	MaxForwards int
	// Node is the sending node, matched by the From URI's host, port and
	// transport in the node list (nil when it is not known).
	Node *Node
	// From is the From URI's node address (zero when unparsable).
	From URI
	// Sipht is true when the request carried X-Sipht-DMQ.
	Sipht       bool
	Incarnation string
	// Msg is the SIP message (a copy that stays valid while Handle runs).
	Msg *sipio.Msg
}

// NodeInfo returns a snapshot of the sending node (zero when unknown).
func (r *Request) NodeInfo(m *Module) NodeInfo {
	if r.Node == nil {
		return NodeInfo{}
	}
	return r.Node.snapshot(&m.list)
}

// Response is a channel's answer to a request.
type Response struct {
	Code        int
	Reason      string
	Body        []byte
	ContentType string
}

// Kamailio's DMQ reply reasons.
var (
	RespOK       = Response{Code: 200, Reason: "OK"}
	RespNotFound = Response{Code: 404, Reason: "User Not Found"}
)

// Channel is a registered peer: what a module sends through.
type Channel struct {
	m    *Module
	peer Peer
}

// Name returns the channel name.
func (c *Channel) Name() string { return c.peer.Channel }

// Register adds a channel; it must be called before Start (from Init). A
// channel name can be registered once.
func (m *Module) Register(p Peer) (*Channel, error) {
	if p.Channel == "" || !validChannel(p.Channel) {
		return nil, fmt.Errorf("dmq: invalid channel name %q", p.Channel)
	}
	if p.Handle == nil {
		return nil, fmt.Errorf("dmq: channel %q has no handler", p.Channel)
	}
	m.peersMu.Lock()
	defer m.peersMu.Unlock()
	if _, dup := m.peers[p.Channel]; dup {
		return nil, fmt.Errorf("dmq: channel %q is already registered", p.Channel)
	}
	c := &Channel{m: m, peer: p}
	m.peers[p.Channel] = c
	return c, nil
}

func (m *Module) channel(name string) *Channel {
	m.peersMu.RLock()
	defer m.peersMu.RUnlock()
	return m.peers[name]
}

func (m *Module) channels() []*Channel {
	m.peersMu.RLock()
	defer m.peersMu.RUnlock()
	out := make([]*Channel, 0, len(m.peers))
	for _, c := range m.peers {
		out = append(out, c)
	}
	return out
}

// SendOptions tune Broadcast and Send.
type SendOptions struct {
	// MaxForwards is the Max-Forwards value (Kamailio's modules send 1;
	// 0 means 1).
	MaxForwards int
	// Inactive also sends to nodes that are not active (node-list
	// notifications and pings do).
	Inactive bool
	// Filter, when set, limits a broadcast to the nodes it accepts.
	Filter func(n *NodeInfo) bool
	// Except is a node left out of a broadcast.
	Except *Node
	// PreferTCP sends over TCP to sipht nodes that listen on TCP (large
	// bulk messages); other nodes get the transport of their URI.
	PreferTCP bool
	// Key orders messages on a node's queue: a message is not sent while
	// an earlier message with the same Key still waits for its reply (the
	// receiver replies once it has applied it, so the receiver applies
	// them in order even if it handles requests in parallel, as Kamailio
	// does). Key "*" is a barrier: it waits for every earlier message, and
	// later ones wait for it. "" sends without waiting.
	Key string
	// Done, when set, receives the outcome for each node: the reply code
	// (408 when none came in time), the reply, and an error for local
	// failures (ErrQueueFull, a send error). It runs on a sender
	// goroutine and must not block for long.
	Done func(n *Node, code int, res *sip.Response, err error)
}

// ErrQueueFull is reported (SendOptions.Done, Send) when a node's queue is
// full and the message was dropped.
var ErrQueueFull = errors.New("dmq: node queue full, message dropped")

// ErrNotRunning is returned when the module is not started.
var ErrNotRunning = errors.New("dmq: module not started")

// Broadcast queues body for every active node except this one (Kamailio's
// bcast_message) and returns how many nodes it was queued for. It never
// blocks: a node whose queue is full gets nothing (counted, and Done is
// called with ErrQueueFull).
func (c *Channel) Broadcast(body []byte, contentType string, o SendOptions) int {
	m := c.m
	if !m.started.Load() {
		return 0
	}
	n := 0
	for _, nd := range m.list.targets(o.Inactive, o.Except) {
		if o.Filter != nil {
			info := nd.snapshot(&m.list)
			if !o.Filter(&info) {
				continue
			}
		}
		if c.Send(nd, body, contentType, o) == nil {
			n++
		}
	}
	return n
}

// Send queues body for one node.
func (c *Channel) Send(n *Node, body []byte, contentType string, o SendOptions) error {
	m := c.m
	if !m.started.Load() {
		return ErrNotRunning
	}
	if c == m.notify {
		return m.sendControl(n, body, contentType, o)
	}
	s := m.sender(n)
	if s == nil {
		return ErrNotRunning
	}
	msg := outMsg{ch: c, body: body, ctype: contentType, maxfwd: o.MaxForwards, done: o.Done, tcp: o.PreferTCP, key: o.Key}
	select {
	case s.q <- msg:
		return nil
	default:
		m.metrics.queueDrops.Add(1)
		if o.Done != nil {
			o.Done(n, 0, nil, ErrQueueFull)
		}
		return ErrQueueFull
	}
}

// Do sends body to node n now, waits for the reply and returns its code
// (408 when none came within request_timeout). It does not go through the
// node's queue.
func (c *Channel) Do(ctx context.Context, n *Node, body []byte, contentType string, o SendOptions) (int, *sip.Response, error) {
	m := c.m
	if !m.started.Load() {
		return 0, nil, ErrNotRunning
	}
	call, err := m.begin(c, n, body, contentType, o.MaxForwards, o.PreferTCP)
	if err != nil {
		m.metrics.sent(c.peer.Channel, "error")
		return 0, nil, err
	}
	code, res, err := m.wait(ctx, c, call)
	return code, res, err
}

// outMsg is a queued message.
type outMsg struct {
	ch     *Channel
	body   []byte
	ctype  string
	maxfwd int
	tcp    bool
	key    string
	done   func(n *Node, code int, res *sip.Response, err error)
}

// nodeSender sends one node's messages in order, with at most window
// requests waiting for their replies.
type nodeSender struct {
	m    *Module
	node *Node
	q    chan outMsg
	win  chan struct{}
	stop chan struct{}
	once sync.Once

	mu       sync.Mutex
	inflight map[string]chan struct{} // Key -> closed when its reply came
	all      map[chan struct{}]struct{}
}

// orderWait returns what a message with key must wait for.
func (s *nodeSender) orderWait(key string) []chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w []chan struct{}
	if b := s.inflight["*"]; b != nil {
		w = append(w, b)
	}
	switch key {
	case "":
	case "*":
		for c := range s.all {
			w = append(w, c)
		}
	default:
		if c := s.inflight[key]; c != nil {
			w = append(w, c)
		}
	}
	return w
}

// track registers an in-flight message and returns its release.
func (s *nodeSender) track(key string) func() {
	c := make(chan struct{})
	s.mu.Lock()
	if key != "" {
		s.inflight[key] = c
	}
	s.all[c] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if key != "" && s.inflight[key] == c {
			delete(s.inflight, key)
		}
		delete(s.all, c)
		s.mu.Unlock()
		close(c)
	}
}

func (s *nodeSender) close() { s.once.Do(func() { close(s.stop) }) }

// sender returns (creating) the sender of node n.
func (m *Module) sender(n *Node) *nodeSender {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	if !m.started.Load() {
		return nil
	}
	if s := m.senders[n]; s != nil {
		return s
	}
	s := &nodeSender{m: m, node: n, q: make(chan outMsg, m.queueSize), win: make(chan struct{}, m.window), stop: make(chan struct{}),
		inflight: map[string]chan struct{}{}, all: map[chan struct{}]struct{}{}}
	m.senders[n] = s
	m.sendWG.Add(1)
	go s.run()
	return s
}

// dropSender forgets the sender of a deleted node (its queue is dropped).
func (m *Module) dropSender(n *Node) {
	m.sendMu.Lock()
	s := m.senders[n]
	delete(m.senders, n)
	m.sendMu.Unlock()
	if s != nil {
		s.close()
	}
}

func (s *nodeSender) run() {
	m := s.m
	defer m.sendWG.Done()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		select {
		case <-s.stop:
			s.drain()
			return
		case msg := <-s.q:
			for _, w := range s.orderWait(msg.key) {
				select {
				case <-w:
				case <-s.stop:
					s.fail(msg, ErrNotRunning)
					s.drain()
					return
				}
			}
			select {
			case s.win <- struct{}{}:
			case <-s.stop:
				s.fail(msg, ErrNotRunning)
				s.drain()
				return
			}
			call, err := m.begin(msg.ch, s.node, msg.body, msg.ctype, msg.maxfwd, msg.tcp)
			if err != nil {
				<-s.win
				m.metrics.sent(msg.ch.peer.Channel, "error")
				m.log.Debug("KDMQ send failed", "node", s.node.orig, "channel", msg.ch.peer.Channel, "err", err)
				s.fail(msg, err)
				continue
			}
			release := s.track(msg.key)
			inflight.Add(1)
			go func(msg outMsg, call *kdmqCall) {
				defer inflight.Done()
				code, res, err := m.wait(m.ctx, msg.ch, call)
				release()
				<-s.win
				if msg.done != nil {
					msg.done(s.node, code, res, err)
				}
			}(msg, call)
		}
	}
}

func (s *nodeSender) fail(msg outMsg, err error) {
	if msg.done != nil {
		msg.done(s.node, 0, nil, err)
	}
}

func (s *nodeSender) drain() {
	for {
		select {
		case msg := <-s.q:
			s.fail(msg, ErrNotRunning)
		default:
			return
		}
	}
}

// kdmqCall is a request on the wire.
type kdmqCall struct {
	call *sipio.Call
	node *Node
	// dropped: the drop hook ate the request; wait reports a timeout
	dropped bool
}

// SetDrop installs a hook that simulates a network partition (tests): KDMQ
// requests to an address for which it returns true are not sent (their
// senders see a timeout after request_timeout), and KDMQ requests from such
// an address are dropped unanswered. nil removes it.
func (m *Module) SetDrop(fn func(remote netip.Addr) bool) {
	if fn == nil {
		m.drop.Store(nil)
		return
	}
	m.drop.Store(&fn)
}

func (m *Module) dropped(ip netip.Addr) bool {
	p := m.drop.Load()
	return p != nil && (*p)(ip.Unmap())
}

// target returns where node n's requests go.
func (m *Module) target(n *Node, preferTCP bool) (sipio.Target, error) {
	m.list.mu.Lock()
	u, ip, tcp := n.uri, n.ip, n.tcp && n.sipht
	m.list.mu.Unlock()
	tp := u.Proto
	if preferTCP && tcp {
		tp = sipio.TCP
	}
	if tp != sipio.UDP && tp != sipio.TCP {
		return sipio.Target{}, fmt.Errorf("dmq: node %s: transport %s is not supported by sipht", u.String(), tp)
	}
	if !ip.IsValid() {
		return sipio.Target{}, fmt.Errorf("dmq: node %s has no address", u.String())
	}
	t := sipio.Target{Transport: tp, Addr: netip.AddrPortFrom(ip, u.PortNum())}
	if tp == m.sockProto {
		t.Local = m.local
	}
	return t, nil
}

// begin builds a KDMQ request for node n and puts it on the wire.
func (m *Module) begin(c *Channel, n *Node, body []byte, ctype string, maxfwd int, preferTCP bool) (*kdmqCall, error) {
	to, err := m.target(n, preferTCP)
	if err != nil {
		return nil, err
	}
	m.list.mu.Lock()
	nu := n.uri
	m.list.mu.Unlock()
	if preferTCP && to.Transport == sipio.TCP {
		nu.Proto = sipio.TCP
	}
	req, err := m.buildRequest(c.peer.Channel, &nu, body, ctype, maxfwd)
	if err != nil {
		return nil, err
	}
	if m.dropped(to.Addr.Addr()) {
		return &kdmqCall{node: n, dropped: true}, nil
	}
	call, err := m.sip.Begin(req, to)
	if err != nil {
		return nil, err
	}
	return &kdmqCall{call: call, node: n}, nil
}

// wait collects the reply of a request; a missing reply counts as 408.
func (m *Module) wait(ctx context.Context, c *Channel, k *kdmqCall) (int, *sip.Response, error) {
	wctx, cancel := context.WithTimeout(ctx, m.reqTimeout)
	defer cancel()
	if k.dropped {
		<-wctx.Done()
		m.metrics.sent(c.peer.Channel, "408")
		return 408, nil, nil
	}
	res, err := k.call.Wait(wctx)
	if err != nil {
		if errors.Is(err, sipio.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			m.metrics.sent(c.peer.Channel, "408")
			return 408, nil, nil
		}
		m.metrics.sent(c.peer.Channel, "error")
		return 0, nil, err
	}
	m.metrics.sent(c.peer.Channel, codeLabel(res.StatusCode))
	m.noteReply(k.node, res)
	return res.StatusCode, res, nil
}

// noteReply records what a reply says about the node (X-Sipht-DMQ).
func (m *Module) noteReply(n *Node, res *sip.Response) {
	if !m.extensions || res.StatusCode < 200 || res.StatusCode >= 300 {
		return
	}
	var hv string
	if h := res.GetHeader(Header); h != nil {
		hv = h.Value()
	}
	m.learn(n, hv)
}

func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 400:
		return "400"
	case 404:
		return "404"
	case 408:
		return "408"
	case 500:
		return "500"
	}
	switch {
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	}
	return "other"
}

// buildRequest builds a KDMQ request with Kamailio's header order.
func (m *Module) buildRequest(channel string, to *URI, body []byte, ctype string, maxfwd int) (*sip.Request, error) {
	var ruri sip.Uri
	var b [256]byte
	toURI := string(to.AppendChannelURI(b[:0], channel))
	if err := sip.ParseUri(toURI, &ruri); err != nil {
		return nil, fmt.Errorf("dmq: build R-URI %q: %w", toURI, err)
	}
	fromURI := string(m.self.AppendChannelURI(b[:0], channel))
	if maxfwd <= 0 {
		maxfwd = 1
	}
	req := sip.NewRequest("KDMQ", ruri)
	req.AppendHeader(sip.NewHeader("To", "<"+toURI+">"))
	req.AppendHeader(sip.NewHeader("From", "<"+fromURI+">;tag="+randHex(16)+"-"+randHex(4)))
	req.AppendHeader(sip.NewHeader("CSeq", "10 KDMQ"))
	req.AppendHeader(sip.NewHeader("Call-ID", randHex(8)+"-"+strconv.FormatUint(m.seq.Add(1), 10)+"@"+m.self.Host))
	req.SetBody(body)
	if ua := m.userAgent(); ua != "" {
		req.AppendHeader(sip.NewHeader("User-Agent", ua))
	}
	req.AppendHeader(sip.NewHeader("Max-Forwards", strconv.Itoa(maxfwd)))
	if ctype != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	if m.extensions {
		req.AppendHeader(sip.NewHeader(Header, m.headerValue()))
	}
	return req, nil
}

// userAgent is the User-Agent of KDMQ requests: user_agent_header, else
// the Server header value.
func (m *Module) userAgent() string {
	if m.host == nil || m.host.Core == nil {
		return ""
	}
	p := m.host.Core
	if p.UserAgentHeader != "" {
		v := p.UserAgentHeader
		if i := indexColon(v); i >= 0 && equalFoldPrefix(v, "User-Agent") {
			v = v[i+1:]
		}
		return trimSpace(v)
	}
	return p.ServerHeaderValue()
}

func indexColon(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

func equalFoldPrefix(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		a, b := s[i], p[i]
		if a >= 'A' && a <= 'Z' {
			a += 32
		}
		if b >= 'A' && b <= 'Z' {
			b += 32
		}
		if a != b {
			return false
		}
	}
	return true
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Target is a node with a snapshot of its state.
type Target struct {
	Node *Node
	Info NodeInfo
}

// Active returns the active nodes other than this one (the nodes a
// broadcast reaches), with their state.
func (m *Module) Active() []Target {
	m.list.mu.Lock()
	defer m.list.mu.Unlock()
	var out []Target
	for _, n := range m.list.nodes {
		if !n.local && n.status == StatusActive {
			out = append(out, Target{Node: n, Info: m.list.info(n)})
		}
	}
	return out
}

// Info returns a snapshot of node n.
func (m *Module) Info(n *Node) NodeInfo { return n.snapshot(&m.list) }

// QueueLen returns how many messages wait in node n's send queue.
func (m *Module) QueueLen(n *Node) int {
	m.sendMu.Lock()
	s := m.senders[n]
	m.sendMu.Unlock()
	if s == nil {
		return 0
	}
	return len(s.q)
}

// maxControl bounds the node-list messages in flight to one node.
const maxControl = 4

// sendControl sends a node-list message (notification, ping) at once,
// beside the node's data queue, so that a node whose queue is backed up is
// still pinged and can be found dead.
func (m *Module) sendControl(n *Node, body []byte, ctype string, o SendOptions) error {
	m.sendMu.Lock()
	if m.control == nil {
		m.control = map[*Node]int{}
	}
	if m.control[n] >= maxControl {
		m.sendMu.Unlock()
		m.metrics.queueDrops.Add(1)
		if o.Done != nil {
			o.Done(n, 0, nil, ErrQueueFull)
		}
		return ErrQueueFull
	}
	m.control[n]++
	m.sendMu.Unlock()
	release := func() {
		m.sendMu.Lock()
		if m.control[n]--; m.control[n] <= 0 {
			delete(m.control, n)
		}
		m.sendMu.Unlock()
	}
	call, err := m.begin(m.notify, n, body, ctype, o.MaxForwards, o.PreferTCP)
	if err != nil {
		release()
		m.metrics.sent(m.notify.peer.Channel, "error")
		if o.Done != nil {
			o.Done(n, 0, nil, err)
		}
		return err
	}
	m.sendWG.Add(1)
	go func() {
		defer m.sendWG.Done()
		code, res, err := m.wait(m.ctx, m.notify, call)
		release()
		if o.Done != nil {
			o.Done(n, code, res, err)
		}
	}()
	return nil
}
