package dmq

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// maxNotifyHosts is Kamailio's limit for multi_notify (MAXDMQHOSTS).
const maxNotifyHosts = 30

// notificationBody returns this node's node list.
func (m *Module) notificationBody() []byte {
	return m.list.appendBody(make([]byte, 0, 256))
}

// handleNotification is the notification channel's handler (Kamailio's
// dmq_notification_callback_f): merge the sender's list, answer with ours,
// and pass on what was new to the active nodes while Max-Forwards allows.
func (m *Module) handleNotification(r *Request) Response {
	maxfwd := r.MaxForwards - 1
	res := m.mergeBody(r.Body, r.Node)
	if r.Node == nil && r.From.Host != "" {
		// the sender may have been added by its own line just now
		if n := m.list.find(&r.From); n != nil {
			r.Node = n
			if m.extensions {
				hv := ""
				if h := r.Msg.Req.GetHeader(Header); h != nil {
					hv = h.Value()
				}
				m.learn(n, hv)
			}
		}
	}
	if r.Node != nil {
		m.list.mu.Lock()
		r.Node.lastSeen = m.now()
		m.list.mu.Unlock()
	}
	body := m.notificationBody()
	if res.changed > 0 && maxfwd > 0 {
		m.notify.Broadcast(body, "text/plain", SendOptions{MaxForwards: maxfwd, Done: m.notifyDone})
	}
	m.afterMerge(res, r.Node, maxfwd > 0 && res.changed > 0)
	m.runInit()
	return Response{Code: 200, Reason: "OK", Body: body, ContentType: "text/plain"}
}

// mergeBody parses a node list and merges it, resolving new host names
// before taking the list lock.
func (m *Module) mergeBody(body []byte, sender *Node) mergeResult {
	lines, errs := ParseNodeList(body)
	if len(errs) > 0 {
		m.metrics.badLines.Add(uint64(len(errs)))
		m.log.Warn("bad lines in a DMQ node list were skipped", "count", len(errs), "first", errs[0].Error())
	}
	names := map[string]netip.Addr{}
	for i := range lines {
		h := strings.Trim(lines[i].URI.Host, "[]")
		if _, err := netip.ParseAddr(h); err == nil {
			continue
		}
		if _, done := names[h]; done || m.list.find(&lines[i].URI) != nil {
			continue
		}
		ip, _ := m.resolveURI(&lines[i].URI)
		names[h] = ip
	}
	resolve := func(u *URI) (netip.Addr, bool) {
		h := strings.Trim(u.Host, "[]")
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.Unmap(), true
		}
		ip := names[h]
		return ip, ip.IsValid()
	}
	m.list.mu.Lock()
	res := m.list.mergeLocked(lines, sender, resolve)
	m.list.mu.Unlock()
	return res
}

// afterMerge announces ourselves to nodes we just learned about from
// somebody else's list (sipht: so that we hear from them directly and
// learn whether they are sipht nodes; skipped when a broadcast already
// reached them) and reports nodes that became active.
func (m *Module) afterMerge(res mergeResult, sender *Node, broadcasted bool) {
	for _, n := range res.added {
		if n == sender || !m.extensions {
			continue
		}
		m.list.mu.Lock()
		st := n.status
		m.list.mu.Unlock()
		if broadcasted && st == StatusActive {
			continue
		}
		m.notify.Send(n, m.notificationBody(), "text/plain", SendOptions{MaxForwards: 1, Done: m.notifyDone})
	}
	for _, n := range res.activated {
		m.nodeUp(n)
	}
	for _, n := range res.added {
		m.list.mu.Lock()
		active := n.status == StatusActive
		m.list.mu.Unlock()
		if active {
			m.nodeUp(n)
		}
	}
}

// notifyDone handles the reply to a notification or ping (Kamailio's
// notification_resp_callback_f).
func (m *Module) notifyDone(n *Node, code int, res *sip.Response, err error) {
	if err != nil {
		if err == ErrQueueFull || err == ErrNotRunning {
			return
		}
		code = 408 // could not even send: the node is as good as silent
	}
	m.list.mu.Lock()
	out := m.list.notifyReplyLocked(n, code, m.now())
	m.list.mu.Unlock()
	switch out {
	case outcomeDeleted:
		m.log.Warn("DMQ node deleted: it did not answer twice", "node", n.orig)
		m.dropSender(n)
	case outcomeDisabled:
		m.log.Info("DMQ node disabled: no answer", "node", n.orig)
	case outcomePending:
		m.log.Info("DMQ notification node did not answer; back to pending", "node", n.orig)
	}
	if code != 200 || res == nil {
		return
	}
	mr := m.mergeBody(res.Body(), n)
	m.afterMerge(mr, n, false)
	if out == outcomeActivated {
		m.nodeUp(n)
	}
	m.runInit()
}

// runInit runs the channels' init callbacks once (Kamailio's
// run_init_callbacks after the first successful exchange).
func (m *Module) runInit() {
	if !m.initDone.CompareAndSwap(false, true) {
		return
	}
	for _, c := range m.channels() {
		if c.peer.OnInit != nil {
			go c.peer.OnInit()
		}
	}
}

// learn records what a node said about itself (the X-Sipht-DMQ value of
// one of its requests or 2xx replies, "" when absent) and reports the node
// as up when it turns out to be a sipht node or came back with a new
// incarnation.
func (m *Module) learn(n *Node, hv string) {
	ok, inc, tcp := parseHeader(hv)
	m.list.mu.Lock()
	n.lastSeen = m.now()
	changed := ok != n.sipht || (ok && inc != n.incarnation)
	n.sipht, n.incarnation, n.tcp = ok, inc, tcp
	active := n.status == StatusActive
	m.list.mu.Unlock()
	if changed && ok && active {
		m.nodeUp(n)
	}
}

// nodeUp calls the channels' OnNodeUp for n.
func (m *Module) nodeUp(n *Node) {
	info := n.snapshot(&m.list)
	if info.Local {
		return
	}
	for _, c := range m.channels() {
		if c.peer.OnNodeUp != nil {
			go c.peer.OnNodeUp(info)
		}
	}
}

// bootstrap adds the notification addresses (pending) and sends them,
// and every other known node, our list with Max-Forwards 2 (Kamailio's
// add_server_and_notify + request_nodelist).
func (m *Module) bootstrap(ctx context.Context) {
	addrs := m.notifyAddrs
	if m.multiNotify && len(addrs) > 0 {
		addrs = m.expandNotify(ctx, addrs[0])
	}
	m.list.mu.Lock()
	for _, a := range addrs {
		u, err := ParseURI(a)
		if err != nil {
			continue
		}
		if n := m.list.findLocked(&u); n != nil {
			n.notify = true
			continue
		}
		m.list.mu.Unlock()
		ip, ok := m.resolveURI(&u)
		m.list.mu.Lock()
		if !ok || m.list.findLocked(&u) != nil {
			continue
		}
		m.list.addLocked(&Node{uri: u, orig: a, status: StatusPending, notify: true, ip: ip})
	}
	m.list.mu.Unlock()
	m.notify.Broadcast(m.notificationBody(), "text/plain", SendOptions{MaxForwards: 2, Inactive: true, Done: m.notifyDone})
}

// expandNotify resolves a notification host into up to 30 node URIs: SRV
// records of the host name itself, then its A and AAAA records (Kamailio's
// get_dmq_host_list with multi_notify=1).
func (m *Module) expandNotify(ctx context.Context, addr string) []string {
	u, err := ParseURI(addr)
	if err != nil {
		return nil
	}
	host := strings.Trim(u.Host, "[]")
	if _, err := netip.ParseAddr(host); err == nil {
		return []string{addr}
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []string
	mk := func(h string, port string) string {
		v := u
		v.Host, v.Port = h, port
		b := []byte(u.Scheme + ":")
		if v.User != "" {
			b = append(b, v.User...)
			b = append(b, '@')
		}
		b = append(b, v.Host...)
		if port != "" {
			b = append(b, ':')
			b = append(b, port...)
		}
		for _, p := range v.Params {
			b = append(b, ';')
			b = append(b, p.Name...)
			if p.Value != "" {
				b = append(b, '=')
				b = append(b, p.Value...)
			}
		}
		return string(b)
	}
	addHost := func(name, port string) {
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", name)
		if err != nil {
			return
		}
		for _, ip := range ips {
			if len(out) >= maxNotifyHosts {
				return
			}
			h := ip.Unmap().String()
			if ip.Unmap().Is6() {
				h = "[" + h + "]"
			}
			out = append(out, mk(h, port))
		}
	}
	if _, srvs, err := net.DefaultResolver.LookupSRV(rctx, "", "", host); err == nil {
		for _, s := range srvs {
			if u.Port != "" && strconv.Itoa(int(s.Port)) != u.Port {
				continue
			}
			addHost(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port)))
		}
	}
	addHost(host, u.Port)
	if len(out) == 0 {
		m.log.Warn("multi_notify: the notification host resolved to nothing", "host", host)
	}
	return out
}

// pingLoop sends the node list to every known node each ping_interval
// (Kamailio's ping_servers), and re-joins through the notification
// addresses when the list holds only this node.
func (m *Module) pingLoop(ctx context.Context) {
	tk := time.NewTicker(m.pingInterval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.ctx.Done():
			return
		case <-tk.C:
			m.ping(ctx)
		}
	}
}

// ping is one round of pings.
func (m *Module) ping(ctx context.Context) {
	if m.list.onlySelf() {
		m.initDone.Store(false)
		if len(m.notifyAddrs) > 0 {
			m.bootstrap(ctx)
		}
		return
	}
	m.notify.Broadcast(m.notificationBody(), "text/plain", SendOptions{MaxForwards: 1, Inactive: true, Done: m.notifyDone})
}

// leave tells every active node that this node is going away (its own
// line with status=disabled, as Kamailio's destroy), waiting at most a
// second. The server calls it (Leave) before it stops the SIP transport.
func (m *Module) leave(ctx context.Context) {
	targets := m.list.targets(true, nil)
	if len(targets) == 0 {
		return
	}
	m.list.mu.Lock()
	m.list.self.status = StatusDisabled
	m.list.mu.Unlock()
	body := m.notificationBody()
	cctx, cancel := context.WithTimeout(ctx, min(m.reqTimeout, time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range targets {
		m.list.mu.Lock()
		st := n.status
		m.list.mu.Unlock()
		if st != StatusActive {
			continue
		}
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			m.notify.Do(cctx, n, body, "text/plain", SendOptions{MaxForwards: 1})
		}(n)
	}
	wg.Wait()
}
