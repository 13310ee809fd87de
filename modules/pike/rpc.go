package pike

import (
	"strings"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/modules/pike/detector"
)

const topHelp = "pike.top Dump parts of the pike table"

func (m *Module) rpcMethods() []rpc.Method {
	return []rpc.Method{
		{Name: "pike.top", Help: topHelp, Handler: m.rpcTop},
		{Name: "pike.list", Help: topHelp, Handler: m.rpcTop},
		{Name: "pike.rm", Params: "s", ParamFault: &rpc.Fault{Code: 500, Message: "Not enough parameters (IP address)"},
			Help: "sipht: unblock an IP address and reset its pike counters", Handler: m.rpcRm},
	}
}

// rpcTop is Kamailio's pike.top: the optional argument is searched,
// case-insensitively, for ALL, then HOT, then WARM (default HOT); the
// reply is one struct {max_hits, list: [{ip_addr, leaf_hits_prev,
// leaf_hits_curr, expires, status}...], number_of_rows}.
func (m *Module) rpcTop(c *rpc.Call) {
	opt := "HOT"
	var s string
	if n, _ := c.Scan("s", &s); n > 0 {
		opt = s
	}
	up := strings.ToUpper(opt)
	var sel detector.Selection
	switch {
	case strings.Contains(up, "ALL"):
		sel = detector.SelectAll
	case strings.Contains(up, "HOT"):
		sel = detector.SelectHot
	case strings.Contains(up, "WARM"):
		sel = detector.SelectWarm
	default:
		c.Fault(500, "Bad argument. Select: ALL, HOT or WARM")
		return
	}
	entries := m.det.Top(sel)
	st := c.AddStruct()
	st.Int("max_hits", m.det.MaxHits())
	list := st.Array("list")
	for _, e := range entries {
		list.Struct().
			Str("ip_addr", e.IP.String()).
			Int("leaf_hits_prev", e.LeafHitsPrev).
			Int("leaf_hits_curr", e.LeafHitsCurr).
			Int("expires", e.Expires).
			Str("status", e.Status.String())
	}
	st.Int("number_of_rows", len(entries))
}

// rpcRm is sipht's pike.rm <ip>: it lifts a block and resets the
// source's counters (the ban table, if any, is separate: htable.delete).
func (m *Module) rpcRm(c *rpc.Call) {
	s := c.ArgStr(0)
	ip, err := parseIP(strings.TrimSpace(s))
	if err != nil {
		c.Fault(500, "Invalid IP address: %s", s)
		return
	}
	found, was := m.det.Unblock(ip)
	switch {
	case !found:
		c.Fault(404, "IP address not found in pike tree: %s", ip.Unmap())
	case was:
		m.log.Log(c.Context(), m.level, "PIKE - UNBLOCKing ip "+ip.Unmap().String()+", node="+nodeName(ip.Unmap())+" (pike.rm)")
		c.Printf("Ok. %s unblocked.", ip.Unmap())
	default:
		c.Printf("Ok. %s was not blocked; counters reset.", ip.Unmap())
	}
}
