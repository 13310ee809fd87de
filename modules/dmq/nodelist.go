package dmq

import (
	"net/netip"
	"sync"
	"time"
)

// Node is one DMQ server in the node list. Its fields are guarded by the
// list's lock; read them through NodeInfo (Nodes, Node.Info).
type Node struct {
	uri    URI
	orig   string // the URI as first written (Kamailio's orig_uri)
	status Status
	local  bool
	// notify marks a notification_address node: it is never deleted, a
	// timeout puts it back to pending.
	notify bool
	ip     netip.Addr // resolved address (Kamailio's ip_address)

	// sipht extension: what the node told us about itself in X-Sipht-DMQ
	// on a message it sent or a reply it gave us directly.
	sipht       bool
	incarnation string
	tcp         bool // it listens on TCP at the same host:port

	lastSeen time.Time // last message or 2xx from the node itself
	lastFail time.Time
	removed  bool // deleted from the list (senders stop)
}

// NodeInfo is a snapshot of a node.
type NodeInfo struct {
	URI    URI
	Orig   string
	Status Status
	Local  bool
	Notify bool
	IP     netip.Addr
	// Sipht is true when the node said it is a sipht node (it then gets
	// sipht's protocol extensions).
	Sipht       bool
	Incarnation string
	TCP         bool
	LastSeen    time.Time
}

// Addr returns where KDMQ requests for the node go.
func (i *NodeInfo) Addr() netip.AddrPort { return netip.AddrPortFrom(i.IP, i.URI.PortNum()) }

// nodeList is the list of known nodes, newest first (Kamailio prepends,
// and dmq.list_nodes prints in list order).
type nodeList struct {
	mu    sync.Mutex
	nodes []*Node // index 0 = newest
	self  *Node
	gen   uint64 // bumped on every change that affects who gets messages
}

func (l *nodeList) info(n *Node) NodeInfo {
	return NodeInfo{URI: n.uri, Orig: n.orig, Status: n.status, Local: n.local, Notify: n.notify, IP: n.ip,
		Sipht: n.sipht, Incarnation: n.incarnation, TCP: n.tcp, LastSeen: n.lastSeen}
}

// snapshot returns a copy of n's state (Module.Info for other packages).
func (n *Node) snapshot(l *nodeList) NodeInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info(n)
}

// findLocked returns the node with u's host, port and transport.
func (l *nodeList) findLocked(u *URI) *Node {
	for _, n := range l.nodes {
		if n.uri.SameNode(u) {
			return n
		}
	}
	return nil
}

func (l *nodeList) find(u *URI) *Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.findLocked(u)
}

// addLocked prepends a node.
func (l *nodeList) addLocked(n *Node) {
	l.nodes = append(l.nodes, nil)
	copy(l.nodes[1:], l.nodes)
	l.nodes[0] = n
	l.gen++
}

// deleteLocked removes n (never the local node).
func (l *nodeList) deleteLocked(n *Node) bool {
	if n.local {
		return false
	}
	for i, x := range l.nodes {
		if x == n {
			l.nodes = append(l.nodes[:i], l.nodes[i+1:]...)
			n.removed = true
			l.gen++
			return true
		}
	}
	return false
}

func (l *nodeList) setStatusLocked(n *Node, st Status) bool {
	if n.status == st {
		return false
	}
	n.status = st
	l.gen++
	return true
}

// snapshot returns every node.
func (l *nodeList) snapshot() []NodeInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]NodeInfo, len(l.nodes))
	for i, n := range l.nodes {
		out[i] = l.info(n)
	}
	return out
}

// targets returns the nodes a broadcast goes to: not local, active (or any
// status with inactive), not except.
func (l *nodeList) targets(inactive bool, except *Node) []*Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Node
	for _, n := range l.nodes {
		if n.local || n == except || (!inactive && n.status != StatusActive) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// onlySelf reports whether the list holds nothing but the local node.
func (l *nodeList) onlySelf() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nodes {
		if !n.local {
			return false
		}
	}
	return true
}

// appendBody appends the notification body: one CRLF-terminated line for
// the local node and every active node (Kamailio's
// build_notification_body).
func (l *nodeList) appendBody(b []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nodes {
		if n.local || n.status == StatusActive {
			b = n.uri.AppendNodeLine(b, n.status)
			b = append(b, '\r', '\n')
		}
	}
	return b
}

// mergeResult tells what merging a received node list did.
type mergeResult struct {
	changed   int     // new nodes plus status changes (Kamailio's return value)
	added     []*Node // nodes that were not known
	activated []*Node // known nodes that became active
}

// mergeLocked applies a received node list, with Kamailio's rules: an
// unknown node is added with the line's status (pending without one); a
// known node that is not local and not locally disabled takes the line's
// status when the line has parameters and the status differs. resolve
// gives the address of a new node (nil: the line is skipped).
//
// sipht difference: when the list comes from the node itself (sender, the
// node matched by the request's From or the node we asked), its own line
// makes it active even if we had it disabled: it has just shown it is
// alive. Kamailio keeps it disabled until our next ping is answered.
func (l *nodeList) mergeLocked(lines []NodeLine, sender *Node, resolve func(*URI) (netip.Addr, bool)) mergeResult {
	var r mergeResult
	for i := range lines {
		ln := &lines[i]
		n := l.findLocked(&ln.URI)
		if n == nil {
			ip, ok := resolve(&ln.URI)
			if !ok {
				continue
			}
			n = &Node{uri: ln.URI, orig: ln.Raw, status: ln.Status, ip: ip}
			l.addLocked(n)
			r.changed++
			r.added = append(r.added, n)
			continue
		}
		if n.local {
			continue
		}
		if n == sender && ln.Status == StatusActive {
			if n.status != StatusActive {
				l.setStatusLocked(n, StatusActive)
				r.changed++
				r.activated = append(r.activated, n)
			}
			continue
		}
		if ln.HasParams && n.status != ln.Status && n.status != StatusDisabled {
			l.setStatusLocked(n, ln.Status)
			r.changed++
			if ln.Status == StatusActive {
				r.activated = append(r.activated, n)
			}
		}
	}
	return r
}

// replyOutcome is what a reply (or its absence) to a notification did.
type replyOutcome uint8

const (
	outcomeNone      replyOutcome = iota
	outcomeActivated              // the node became active
	outcomePending                // a notification address went back to pending
	outcomeDisabled               // the node was disabled
	outcomeDeleted                // the node was deleted
)

// notifyReplyLocked applies the result of a notification or ping sent to
// n: 200 makes it active; a timeout (408, or no answer) puts a
// notification address back to pending, disables an active node and
// deletes a disabled one (Kamailio's notification_resp_callback_f). Other
// codes change nothing.
func (l *nodeList) notifyReplyLocked(n *Node, code int, now time.Time) replyOutcome {
	if n.local || n.removed {
		return outcomeNone
	}
	switch {
	case code == 200:
		n.lastSeen = now
		if l.setStatusLocked(n, StatusActive) {
			return outcomeActivated
		}
	case code == 408:
		n.lastFail = now
		if n.notify {
			l.setStatusLocked(n, StatusPending)
			return outcomePending
		}
		if n.status == StatusDisabled {
			l.deleteLocked(n)
			return outcomeDeleted
		}
		l.setStatusLocked(n, StatusDisabled)
		return outcomeDisabled
	}
	return outcomeNone
}
