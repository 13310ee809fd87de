package dmq

import (
	"github.com/sipht/sipht/internal/rpc"
)

// rpcMethods are dmq.list_nodes and dmq.remove, with Kamailio 5.6's reply
// shapes and faults.
func (m *Module) rpcMethods() []rpc.Method {
	return []rpc.Method{
		{Name: "dmq.list_nodes", Help: "Print all nodes", Flags: rpc.RetArray, Handler: m.rpcListNodes},
		{Name: "dmq.remove", Help: "Remove a DMQ node", Handler: m.rpcRemove},
	}
}

// rpcListNodes writes one struct per node, newest first: host, port,
// proto ("*" when the URI names no transport), resolved_ip, status,
// last_notification (always 0, as in Kamailio 5.6), local (0/1).
func (m *Module) rpcListNodes(c *rpc.Call) {
	for _, n := range m.Nodes() {
		proto := n.URI.ProtoName
		if proto == "" {
			proto = "*"
		}
		ip := ""
		if n.IP.IsValid() {
			ip = n.IP.String()
		}
		local := 0
		if n.Local {
			local = 1
		}
		c.AddStruct().
			Str("host", n.URI.Host).
			Str("port", n.URI.Port).
			Str("proto", proto).
			Str("resolved_ip", ip).
			Str("status", n.Status.String()).
			Int("last_notification", 0).
			Int("local", local)
	}
}

// rpcRemove deletes the node with the given URI's host, port and
// transport (never this node). As Kamailio, it answers
// "Ok. DMQ node removed." also when no such node is listed.
func (m *Module) rpcRemove(c *rpc.Call) {
	var addr string
	if n, _ := c.Scan(".S", &addr); n < 1 {
		c.Fault(500, "Invalid Parameters")
		return
	}
	u, err := ParseURI(addr)
	if err != nil {
		c.Fault(500, "Failure")
		return
	}
	m.list.mu.Lock()
	n := m.list.findLocked(&u)
	deleted := n != nil && m.list.deleteLocked(n)
	m.list.mu.Unlock()
	if deleted {
		m.dropSender(n)
		m.log.Info("DMQ node removed by RPC", "node", n.orig)
	}
	c.Printf("Ok. DMQ node removed.")
}
