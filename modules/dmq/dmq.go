// Package dmq is sipht's DMQ module: Kamailio's distributed message queue
// over SIP (KDMQ requests), wire-compatible with Kamailio 5.6, so that a
// sipht node can join a Kamailio cluster.
//
// The module keeps the node list (discovery through notification_address,
// node-list exchange on the notification channel, pings every
// ping_interval, statuses active/disabled/timeout/pending, removal of
// nodes that stop answering, re-bootstrap when alone), answers KDMQ
// requests on behalf of the modules that registered a channel (htable's
// "htable"), and sends their messages: queued per node, in order, without
// ever blocking the caller, over UDP or TCP as the node URI says.
//
// Other modules use it from their Init through h.Loaded("dmq"):
//
//	d := mod.(*dmq.Module)
//	ch, err := d.Register(dmq.Peer{Channel: "htable", Handle: handle, OnInit: sync})
//	...
//	ch.Broadcast(body, "application/json", dmq.SendOptions{})
//
// sipht nodes recognise each other by the X-Sipht-DMQ header they put on
// every KDMQ request and reply (Kamailio ignores it); modules can then use
// extensions with sipht nodes only (NodeInfo.Sipht). See docs/dmq.md.
package dmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/sipio"
)

func init() {
	module.Register(module.Info{
		Name:    "dmq",
		Summary: "distributed message queue between SIP servers (Kamailio's DMQ, KDMQ requests)",
		New:     func() module.Module { return New() },
	})
}

// Defaults of the module parameters (Kamailio's, plus sipht's own).
const (
	DefaultNotificationChannel = "notification_peer"
	DefaultPingInterval        = 60 * time.Second
	DefaultNumWorkers          = 2
	DefaultRequestTimeout      = 5 * time.Second
	DefaultQueueSize           = 20000
	DefaultWindow              = 64
	// MinPingInterval is sipht's lower bound for ping_interval (Kamailio
	// raises values below 5 s to 5 s).
	MinPingInterval = time.Second
)

// Header is the header sipht nodes put on every KDMQ request and reply:
// "X-Sipht-DMQ: 1;inc=<incarnation>[;tcp=1]". Kamailio ignores it.
const Header = "X-Sipht-DMQ"

// ExtVersion is the sipht DMQ extension version announced in Header.
const ExtVersion = 1

// Module is a dmq module instance.
type Module struct {
	// parameters
	serverAddress string
	serverSocket  string
	notifyAddrs   []string
	notifyChannel string
	multiNotify   bool
	pingInterval  time.Duration
	numWorkers    int
	reqTimeout    time.Duration
	queueSize     int
	window        int
	extensions    bool
	syncInterval  time.Duration
	tombstoneTTL  time.Duration

	self        URI
	sockProto   sipio.Transport
	sockAddr    netip.AddrPort // server_socket as given (may be zero until Start)
	incarnation string

	log     *slog.Logger
	host    *module.Host
	sip     *sipio.Server
	local   netip.AddrPort // the listening socket KDMQ is sent from
	hasTCP  bool           // a TCP listener on the server address's port
	started atomic.Bool
	left    atomic.Bool // the shutdown notice was sent
	ctx     context.Context
	cancel  context.CancelFunc

	list nodeList

	peersMu sync.RWMutex
	peers   map[string]*Channel
	notify  *Channel

	initDone atomic.Bool // init callbacks ran (Kamailio's dmq_init_callback_done)

	scriptHandles atomic.Bool // the script calls dmq_handle_message/dmq_process_message
	jobs          []chan job
	workersWG     sync.WaitGroup

	sendMu  sync.Mutex
	senders map[*Node]*nodeSender
	control map[*Node]int // node-list messages in flight
	sendWG  sync.WaitGroup

	metrics *metrics
	now     func() time.Time
	seq     atomic.Uint64
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	drop    atomic.Pointer[func(netip.Addr) bool]
}

// New returns a module with Kamailio's defaults.
func New() *Module {
	return &Module{
		notifyChannel: DefaultNotificationChannel,
		pingInterval:  DefaultPingInterval,
		numWorkers:    DefaultNumWorkers,
		reqTimeout:    DefaultRequestTimeout,
		queueSize:     DefaultQueueSize,
		window:        DefaultWindow,
		extensions:    true,
		peers:         map[string]*Channel{},
		senders:       map[*Node]*nodeSender{},
		now:           time.Now,
		resolve:       lookupHost,
	}
}

// Params declares the modparams: Kamailio 5.6's, and sipht's
// request_timeout, queue_size, window and sipht_extensions.
func (m *Module) Params() []module.Param {
	return []module.Param{
		{Name: "server_address", Kind: module.ParamStr, Doc: "this node's SIP URI, e.g. sip:10.0.0.1:5060 (required)",
			Set: func(v module.Value) error { m.serverAddress = v.Str; return nil }},
		{Name: "server_socket", Kind: module.ParamStr, Doc: "listen socket KDMQ requests are sent from (proto:host:port); default from server_address",
			Set: func(v module.Value) error { m.serverSocket = v.Str; return nil }},
		{Name: "notification_address", Kind: module.ParamStr, Multi: true, Doc: "URI of a node to join (repeatable)",
			Set: func(v module.Value) error {
				if _, err := ParseURI(v.Str); err != nil {
					return err
				}
				m.notifyAddrs = append(m.notifyAddrs, v.Str)
				return nil
			}},
		{Name: "notification_channel", Kind: module.ParamStr, Doc: "channel of the node-list exchange (default notification_peer)",
			Set: func(v module.Value) error {
				if v.Str == "" || !validChannel(v.Str) {
					return fmt.Errorf("notification_channel %q: must be a non-empty SIP user name", v.Str)
				}
				m.notifyChannel = v.Str
				return nil
			}},
		{Name: "multi_notify", Kind: module.ParamInt, Doc: "1: resolve the notification host (SRV, A, AAAA) into up to 30 nodes",
			Set: func(v module.Value) error { m.multiNotify = v.Int != 0; return nil }},
		{Name: "ping_interval", Kind: module.ParamInt, Doc: "seconds between node-list pings (default 60)",
			Set: func(v module.Value) error {
				d := time.Duration(v.Int) * time.Second
				m.pingInterval = max(d, MinPingInterval)
				return nil
			}},
		{Name: "num_workers", Kind: module.ParamInt, Doc: "goroutines handling received KDMQ requests (default 2)",
			Set: func(v module.Value) error {
				if v.Int < 1 || v.Int > 1024 {
					return fmt.Errorf("num_workers must be 1..1024, got %d", v.Int)
				}
				m.numWorkers = int(v.Int)
				return nil
			}},
		{Name: "worker_usleep", Kind: module.ParamInt, Doc: "accepted for compatibility; sipht's workers wait on channels",
			Set: func(module.Value) error { return nil }},
		{Name: "request_timeout", Kind: module.ParamInt, Doc: "sipht: milliseconds to wait for the reply to a KDMQ request (default 5000)",
			Set: func(v module.Value) error {
				if v.Int < 50 || v.Int > 60000 {
					return fmt.Errorf("request_timeout must be 50..60000 ms, got %d", v.Int)
				}
				m.reqTimeout = time.Duration(v.Int) * time.Millisecond
				return nil
			}},
		{Name: "queue_size", Kind: module.ParamInt, Doc: "sipht: messages queued per node before new ones are dropped and counted (default 20000)",
			Set: func(v module.Value) error {
				if v.Int < 1 || v.Int > 1<<24 {
					return fmt.Errorf("queue_size must be 1..16777216, got %d", v.Int)
				}
				m.queueSize = int(v.Int)
				return nil
			}},
		{Name: "window", Kind: module.ParamInt, Doc: "sipht: KDMQ requests per node waiting for their reply at once (default 64)",
			Set: func(v module.Value) error {
				if v.Int < 1 || v.Int > 4096 {
					return fmt.Errorf("window must be 1..4096, got %d", v.Int)
				}
				m.window = int(v.Int)
				return nil
			}},
		{Name: "sync_interval", Kind: module.ParamInt, Doc: "sipht: seconds between digest comparisons of replicated data with sipht nodes (default 30, -1: only on joins and losses)",
			Set: func(v module.Value) error {
				if v.Int < -1 || v.Int > 86400 {
					return fmt.Errorf("sync_interval must be -1..86400, got %d", v.Int)
				}
				m.syncInterval = time.Duration(v.Int) * time.Second
				if v.Int == -1 {
					m.syncInterval = -1
				}
				return nil
			}},
		{Name: "tombstone_lifetime", Kind: module.ParamInt, Doc: "sipht: seconds a replicated delete is remembered between sipht nodes (default 7200)",
			Set: func(v module.Value) error {
				if v.Int < 1 || v.Int > 30*86400 {
					return fmt.Errorf("tombstone_lifetime must be 1..2592000, got %d", v.Int)
				}
				m.tombstoneTTL = time.Duration(v.Int) * time.Second
				return nil
			}},
		{Name: "sipht_extensions", Kind: module.ParamInt, Doc: "sipht: 0 behaves exactly as Kamailio with every node (no X-Sipht-DMQ header)",
			Set: func(v module.Value) error { m.extensions = v.Int != 0; return nil }},
	}
}

func validChannel(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("@:;<>\"?/", c) >= 0 {
			return false
		}
	}
	return true
}

// Init checks the parameters and declares the script functions, RPC
// methods and metrics.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.log = h.Log
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.serverAddress == "" {
		return errors.New("server_address is required (this node's SIP URI, e.g. sip:10.0.0.1:5060)")
	}
	u, err := ParseURI(m.serverAddress)
	if err != nil {
		return fmt.Errorf("server_address: %w", err)
	}
	if u.Proto != sipio.UDP && u.Proto != sipio.TCP {
		return fmt.Errorf("server_address %q: sipht sends KDMQ over udp and tcp only", m.serverAddress)
	}
	if u.Port == "" {
		m.log.Warn("server_address has no port: node lists will carry an empty port (sip:host:); write the port explicitly", "server_address", m.serverAddress)
	}
	m.self = u
	if err := m.parseSocket(); err != nil {
		return err
	}
	if m.multiNotify && len(m.notifyAddrs) > 1 {
		m.log.Warn("multi_notify uses only the first notification_address", "first", m.notifyAddrs[0])
	}
	var b [8]byte
	rand.Read(b[:])
	m.incarnation = hex.EncodeToString(b[:])
	self := &Node{uri: u, orig: m.serverAddress, status: StatusActive, local: true}
	if ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil {
		self.ip = ip
	}
	m.list.self = self
	m.list.addLocked(self)
	m.notify = &Channel{m: m, peer: Peer{Channel: m.notifyChannel, Description: m.notifyChannel, Handle: m.handleNotification}}
	m.peers[m.notifyChannel] = m.notify
	m.metrics = newMetrics(m)
	if h.Metrics != nil {
		if err := h.Metrics.Register(m.metrics); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	if h.Script != nil {
		if err := m.registerScript(h); err != nil {
			return err
		}
	}
	if h.RPC != nil {
		if err := h.RPC.Register(m.rpcMethods()...); err != nil {
			return err
		}
	}
	return nil
}

// parseSocket reads server_socket ("proto:host:port", Kamailio's socket
// syntax) or derives it from server_address.
func (m *Module) parseSocket() error {
	if m.serverSocket == "" {
		m.sockProto = m.self.Proto
		if ip, err := netip.ParseAddr(strings.Trim(m.self.Host, "[]")); err == nil {
			m.sockAddr = netip.AddrPortFrom(ip, m.self.PortNum())
		}
		return nil
	}
	specs, err := sipio.ParseListen(m.serverSocket)
	if err != nil || len(specs) != 1 {
		return fmt.Errorf("server_socket %q: not a socket (proto:host:port): %v", m.serverSocket, err)
	}
	sp := specs[0]
	if sp.Transport != sipio.UDP && sp.Transport != sipio.TCP {
		return fmt.Errorf("server_socket %q: sipht sends KDMQ over udp and tcp only", m.serverSocket)
	}
	m.sockProto = sp.Transport
	if ip, err := netip.ParseAddr(strings.Trim(sp.Host, "[]")); err == nil {
		port := sp.Port
		if port == 0 {
			port = m.self.PortNum()
		}
		m.sockAddr = netip.AddrPortFrom(ip, port)
	}
	return nil
}

// Start finds the local socket, starts the workers, joins the cluster
// through the notification addresses and starts the pings.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.host = h
	m.sip = h.SIP
	if m.sip == nil {
		return errors.New("no SIP transport")
	}
	if err := m.findLocal(); err != nil {
		return err
	}
	if !m.list.self.ip.IsValid() {
		ips, err := m.resolve(ctx, m.self.Host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("server_address %q: cannot resolve %s: %v", m.serverAddress, m.self.Host, err)
		}
		m.list.mu.Lock()
		m.list.self.ip = ips[0]
		m.list.mu.Unlock()
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.jobs = make([]chan job, m.numWorkers)
	for i := range m.jobs {
		m.jobs[i] = make(chan job, 1024)
		m.workersWG.Add(1)
		go m.worker(m.jobs[i])
	}
	m.started.Store(true)
	if len(m.notifyAddrs) > 0 {
		m.bootstrap(ctx)
	}
	run := h.Go
	if run == nil {
		run = func(fn func(context.Context)) { go fn(m.ctx) }
	}
	run(m.pingLoop)
	return nil
}

// findLocal picks the listening socket KDMQ requests leave from: the one
// matching server_socket (or server_address), as Kamailio requires.
func (m *Module) findLocal() error {
	var fallback netip.AddrPort
	for _, l := range m.sip.Listeners() {
		if l.Transport == sipio.TCP && l.Addr.Port() == m.self.PortNum() {
			m.hasTCP = true
		}
		if l.Transport != m.sockProto {
			continue
		}
		if m.sockAddr.IsValid() {
			if l.Addr == m.sockAddr || (l.Addr.Addr().IsUnspecified() && l.Addr.Port() == m.sockAddr.Port()) {
				m.local = l.Addr
			}
			continue
		}
		if l.Addr.Port() == m.self.PortNum() && !fallback.IsValid() {
			fallback = l.Addr
		}
	}
	if !m.local.IsValid() {
		m.local = fallback
	}
	if !m.local.IsValid() {
		return fmt.Errorf("server_address %q / server_socket %q: sipht does not listen on that socket (%s); add a matching listen=",
			m.serverAddress, m.serverSocket, m.sockProto)
	}
	return nil
}

// Stop tells the active nodes this node is leaving (its own line with
// status=disabled, best effort, at most one request timeout) and stops the
// workers and senders.
func (m *Module) Stop(ctx context.Context) error {
	if !m.started.Swap(false) {
		return nil
	}
	if !m.left.Swap(true) {
		m.leave(ctx)
	}
	m.cancel()
	m.sendMu.Lock()
	for _, s := range m.senders {
		s.close()
	}
	m.sendMu.Unlock()
	m.sendWG.Wait()
	m.workersWG.Wait() // the workers return on m.ctx's cancel
	return nil
}

// OrderedMethods asks the SIP transport to hand the KDMQ requests of one
// node to one worker, in the order they were read: Kamailio's htable
// replication sends changes that do not commute (htable.setxs: SET_CELL
// then SET_CELL_EXPIRE) back to back.
func (m *Module) OrderedMethods() []string { return []string{"KDMQ"} }

// Leave sends the shutdown notice (this node, status disabled) while the
// SIP transport still runs; the server calls it before stopping SIP.
func (m *Module) Leave(ctx context.Context) {
	if m.started.Load() && !m.left.Swap(true) {
		m.leave(ctx)
	}
}

// Self returns this node.
func (m *Module) Self() NodeInfo { return m.list.self.snapshot(&m.list) }

// Nodes returns every node of the list, newest first (as dmq.list_nodes).
func (m *Module) Nodes() []NodeInfo { return m.list.snapshot() }

// Incarnation returns the random id of this run of the node, announced to
// sipht nodes (a restart changes it).
func (m *Module) Incarnation() string { return m.incarnation }

// Extensions reports whether sipht extensions are enabled
// (sipht_extensions, default 1).
func (m *Module) Extensions() bool { return m.extensions }

// SyncInterval returns the sync_interval modparam (0 when not set, -1
// for "never periodically") for modules that compare replicated data.
func (m *Module) SyncInterval() time.Duration { return m.syncInterval }

// TombstoneLifetime returns the tombstone_lifetime modparam (0 when not
// set).
func (m *Module) TombstoneLifetime() time.Duration { return m.tombstoneTTL }

// resolveURI returns the address of a node URI (IP literal, or a name
// resolved with a 2 s limit).
func (m *Module) resolveURI(u *URI) (netip.Addr, bool) {
	host := strings.Trim(u.Host, "[]")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := m.resolve(ctx, host)
	if err != nil || len(ips) == 0 {
		m.log.Warn("cannot resolve DMQ node", "host", u.Host, "err", err)
		return netip.Addr{}, false
	}
	return ips[0], true
}

func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, err
}

// headerValue is this node's X-Sipht-DMQ value.
func (m *Module) headerValue() string {
	v := strconv.Itoa(ExtVersion) + ";inc=" + m.incarnation
	if m.hasTCP {
		v += ";tcp=1"
	}
	return v
}

// parseHeader reads an X-Sipht-DMQ value.
func parseHeader(v string) (ok bool, inc string, tcp bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return false, "", false
	}
	parts := strings.Split(v, ";")
	if n, err := strconv.Atoi(strings.TrimSpace(parts[0])); err != nil || n < 1 {
		return false, "", false
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "inc":
			if len(val) <= 64 {
				inc = val
			}
		case "tcp":
			tcp = val == "1"
		}
	}
	return true, inc, tcp
}
