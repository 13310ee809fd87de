package usrloc

import (
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc"
)

// rpcCSeq and rpcCallID are what ul.add and ul.rm_contact use for their
// contacts (Kamailio's RPC_UL_CSEQ and rpc_ul_cid).
const (
	rpcCSeq      = 1
	rpcCallID    = "dfjrewr12386fd6-343@kamailio.rpc"
	rpcUserAgent = "kamailio SIP Router - RPC Server"
)

func (m *Module) registerRPC(h *module.Host) error {
	methods := []rpc.Method{
		{Name: "ul.dump", Help: "Dump user location tables", Handler: m.rpcDump},
		{Name: "ul.lookup", Help: "Lookup one AOR in the usrloc location table", Handler: m.rpcLookup},
		{Name: "ul.rm", Help: "Delete an address of record including its contacts", Handler: m.rpcRm},
		{Name: "ul.rm_contact", Help: "Delete a contact from an AOR record", Handler: m.rpcRmContact},
		{Name: "ul.flush", Help: "Flush the usrloc memory cache to DB", Handler: func(c *rpc.Call) {}},
		{Name: "ul.add", Help: "Add a new contact for an address of record", Handler: m.rpcAdd},
	}
	for _, md := range methods {
		if err := h.RPC.Register(md); err != nil {
			return err
		}
	}
	return nil
}

// dumpContact writes one contact as Kamailio's rpc_dump_contact.
func dumpContact(arr rpc.Array, c *Contact, now int64) {
	s := arr.Members().Struct("Contact")
	s.Str("Address", c.URI)
	switch {
	case c.Expires == 0:
		s.Str("Expires", "permanent")
	case now > c.Expires:
		s.Str("Expires", "expired")
	default:
		s.Int("Expires", int(c.Expires-now))
	}
	q := -1.0
	if c.Q != QUnspecified {
		q = float64(c.Q) / 1000
	}
	s.Double("Q", q)
	s.Str("Call-ID", c.CallID)
	s.Int("CSeq", c.CSeq)
	s.Str("User-Agent", orNotSet(c.UserAgent))
	s.Str("Received", orNotSet(c.Received))
	s.Str("Path", orNotSet(c.Path))
	s.Str("State", "CS_NEW")
	s.Uint("Flags", c.Flags)
	s.Uint("CFlags", c.CFlags)
	s.Str("Socket", orNotSet(c.Socket))
	s.Uint("Methods", c.Methods)
	s.Str("Ruid", orNotSet(c.RUID))
	s.Str("Instance", orNotSet(c.Instance))
	s.Uint("Reg-Id", uint32(c.RegID))
	s.Int("Server-Id", c.ServerID)
	s.Int("Tcpconn-Id", c.TCPConnID)
	s.Int("Keepalive", c.Keepalive)
	s.Int("Last-Keepalive", int(c.LastKeepalive))
	s.Int("KA-Roundtrip", 0)
	s.Int("Last-Modified", int(c.LastModified))
}

func orNotSet(s string) string {
	if s == "" {
		return "[not set]"
	}
	return s
}

func (m *Module) rpcDump(c *rpc.Call) {
	var brief string
	c.Scan("*S", &brief)
	summary := brief == "brief"
	now := m.now()
	top := c.AddStruct()
	doms := top.Array("Domains")
	for _, d := range m.Domains() {
		dh := doms.Members().Struct("Domain")
		dh.Str("Domain", d.Name())
		dh.Int("Size", d.Size())
		ah := dh.Array("AoRs")
		n, max := 0, 0
		d.Range(func(r *Record) bool {
			if summary {
				ah.Members().Str("AoR", r.AOR)
				return true
			}
			bh := ah.Members().Struct("Info")
			bh.Str("AoR", r.AOR)
			bh.Uint("HashID", r.Hash)
			ih := bh.Array("Contacts")
			for _, ct := range r.Contacts {
				dumpContact(ih, ct, now)
			}
			return true
		}, func(cnt int) {
			n += cnt
			if cnt > max {
				max = cnt
			}
		})
		st := dh.Struct("Stats")
		st.Int("Records", n)
		st.Int("Max-Slots", max)
	}
}

// rpcRecord finds the domain table and the record key of the ul.* RPC
// arguments table and aor; on an error it answers the fault and returns
// false.
func (m *Module) rpcRecord(c *rpc.Call, table, aor string) (*Domain, string, bool) {
	d := m.Domain(table)
	if d == nil {
		c.Fault(500, "Domain table not found")
		return nil, "", false
	}
	key, err := m.FixAOR(aor)
	if err != nil {
		c.Fault(500, "Domain missing in AOR")
		return nil, "", false
	}
	return d, key, true
}

// rpcAOR reads the two arguments (table, AOR) of ul.lookup and ul.rm
// and finds them as rpcRecord does.
func (m *Module) rpcAOR(c *rpc.Call) (*Domain, string, bool) {
	var table, aor string
	if n, _ := c.Scan("*SS", &table, &aor); n != 2 {
		c.Fault(500, "Not enough parameters (table and AOR to lookup)")
		return nil, "", false
	}
	return m.rpcRecord(c, table, aor)
}

func (m *Module) rpcLookup(c *rpc.Call) {
	d, key, ok := m.rpcAOR(c)
	if !ok {
		return
	}
	now := m.now()
	var valid []Contact
	found := false
	d.View(key, func(r *Record) {
		if r == nil {
			return
		}
		found = true
		for _, ct := range r.Contacts {
			if ct.Valid(now) {
				valid = append(valid, *ct)
			}
		}
	})
	if !found {
		c.Fault(500, "AOR not found in location table")
		return
	}
	if len(valid) == 0 {
		c.Fault(500, "AOR has no contacts")
		return
	}
	s := c.AddStruct()
	s.Str("AoR", key)
	arr := s.Array("Contacts")
	for i := range valid {
		dumpContact(arr, &valid[i], now)
	}
}

func (m *Module) rpcRm(c *rpc.Call) {
	d, key, ok := m.rpcAOR(c)
	if !ok {
		return
	}
	d.With(key, func(t *Txn) { t.DeleteRecord() })
}

func (m *Module) rpcRmContact(c *rpc.Call) {
	var table, aor, contact string
	if n, _ := c.Scan("*SSS", &table, &aor, &contact); n != 3 {
		c.Fault(500, "Not enough parameters (table, AOR and contact)")
		return
	}
	d, key, ok := m.rpcRecord(c, table, aor)
	if !ok {
		return
	}
	d.With(key, func(t *Txn) {
		if t.Record() == nil {
			c.Fault(404, "AOR not found")
			return
		}
		ct, st := m.Find(t, contact, rpcCallID, "", rpcCSeq+1)
		switch {
		case st < 0:
			c.Fault(500, "Internal error (can't get contact)")
		case st > 0:
			c.Fault(404, "Contact not found")
		default:
			t.Delete(ct)
		}
	})
}

func (m *Module) rpcAdd(c *rpc.Call) {
	var table, aor, contact, path, received, socket string
	var expires int
	var q float64
	var flags, cflags, methods uint32
	n, _ := c.Scan("*SSSdfSuuuSS", &table, &aor, &contact, &expires, &q, &path, &flags, &cflags, &methods, &received, &socket)
	if n < 9 {
		c.Fault(500, "Not enough parameters or wrong format")
		return
	}
	d, key, ok := m.rpcRecord(c, table, aor)
	if !ok {
		return
	}
	now := m.now()
	ci := Contact{
		URI: contact, Q: doubleToQ(q), CallID: rpcCallID, CSeq: rpcCSeq, UserAgent: rpcUserAgent,
		Flags: flags, CFlags: cflags, Methods: methods, RUID: m.newRPCRUID(), TCPConnID: -1,
		LastModified: now, LastKeepalive: now,
	}
	if isParamSet(path) {
		ci.Path = path
	}
	if n > 9 && isParamSet(received) {
		ci.Received = received
	}
	if n > 10 && isParamSet(socket) {
		ci.Socket = socket
	}
	if expires != 0 {
		ci.Expires = now + int64(expires)
	}
	d.With(key, func(t *Txn) {
		old, st := m.Find(t, contact, rpcCallID, "", rpcCSeq+1)
		if st < 0 {
			c.Fault(500, "Can't get record")
			return
		}
		if old != nil {
			Update(t, old, &ci)
			return
		}
		cc := ci
		t.Insert(&cc)
	})
}

// Update copies the changeable fields of ci into c (Kamailio's
// mem_update_ucontact) and repositions it as update_contact_pos does.
func Update(t *Txn, c *Contact, ci *Contact) {
	if ci.Instance != "" && ci.URI != "" {
		c.URI = ci.URI
	}
	if ci.CallID != "" {
		c.CallID = ci.CallID
	}
	c.UserAgent = ci.UserAgent
	c.Received = ci.Received
	c.Path = ci.Path
	c.Socket = ci.Socket
	c.Expires = ci.Expires
	c.Q = ci.Q
	c.CSeq = ci.CSeq
	c.Methods = ci.Methods
	c.LastModified = ci.LastModified
	c.LastKeepalive = ci.LastKeepalive
	c.Flags = ci.Flags
	c.CFlags = ci.CFlags
	c.ServerID = ci.ServerID
	c.TCPConnID = ci.TCPConnID
	t.Moved(c)
}

// isParamSet is Kamailio's ul_rpc_is_param_set: "", "." and "0" mean unset.
func isParamSet(s string) bool {
	if s == "" {
		return false
	}
	if len(s) > 1 {
		return true
	}
	return s != "." && s != "0"
}

func doubleToQ(f float64) int {
	if f == -1 {
		return QUnspecified
	}
	return int(f * 1000)
}
