// Package usrloc is Kamailio's usrloc module in memory (db_mode 0): the
// location tables that registrar's save() fills and lookup() reads, an
// expiry timer (timer_interval) and the ul.* RPC commands with Kamailio's
// reply shapes.
//
// Registrar (and any other module) works on a table through Domain: With
// locks one AoR's hash slot and gives a Txn to read and change its record;
// View and Range read. Records and contacts are kept in Kamailio's orders
// (hash slot, then insertion; contacts by q), so ul.dump and the Contact
// list of a 200 OK to REGISTER come out as Kamailio's do.
package usrloc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipht/sipht/internal/module"
)

func init() {
	module.Register(module.Info{
		Name:    "usrloc",
		Summary: "user location tables in memory (db_mode 0)",
		New:     func() module.Module { return New() },
	})
}

// Matching modes (matching_mode modparam).
const (
	MatchContact       = 0 // contact URI only
	MatchContactCallID = 1 // contact URI and Call-ID
	MatchContactPath   = 2 // contact URI and Path
	MatchCallIDOnly    = 3 // Call-ID only
)

// Module is the usrloc module.
type Module struct {
	dbURL         string
	dbMode        int64
	useDomain     int64
	timerInterval int64
	natBFlag      int64
	matchingMode  int64
	cseqDelay     int64
	descTimeOrder int64
	hashSize      int64
	caseSensitive int64
	preload       []string
	ignored       []string

	mu      sync.Mutex
	domains []*Domain // registration order (ul.dump order)
	byName  map[string]*Domain

	now      func() int64
	ruidBase string // "<start>-<pid>-"
	ruidSeq  atomic.Uint64
	ulcxSeq  atomic.Uint64
	// expiredTotal counts contacts removed by the timer
	expiredTotal atomic.Uint64
	started      bool
}

// New returns a usrloc module with Kamailio's defaults.
func New() *Module {
	return &Module{
		timerInterval: 60,
		natBFlag:      -1,
		cseqDelay:     20,
		hashSize:      10,
		byName:        map[string]*Domain{},
		now:           func() int64 { return time.Now().Unix() },
	}
}

// Params lists the usrloc modparams sipht uses, plus the database and
// keepalive ones Kamailio configs set, accepted with no effect in db_mode 0.
func (m *Module) Params() []module.Param {
	ps := []module.Param{
		{Name: "db_url", Kind: module.ParamStr, Doc: "database (not used in db_mode 0)",
			Set: func(v module.Value) error { m.dbURL = v.Str; return nil }},
		module.IntParam("db_mode", &m.dbMode, "0: memory only (the only mode sipht supports)"),
		module.IntParam("use_domain", &m.useDomain, "1: the AoR is user@domain"),
		module.IntParam("timer_interval", &m.timerInterval, "seconds between expiry sweeps (60)"),
		module.IntParam("nat_bflag", &m.natBFlag, "branch flag marking NATed contacts"),
		module.IntParam("matching_mode", &m.matchingMode, "0 contact, 1 contact+Call-ID, 2 contact+Path, 3 Call-ID"),
		module.IntParam("cseq_delay", &m.cseqDelay, "seconds a same-CSeq REGISTER counts as a retransmission (20)"),
		module.IntParam("desc_time_order", &m.descTimeOrder, "1: newest contact first instead of by q"),
		module.IntParam("hash_size", &m.hashSize, "log2 of the hash slots per table (10)"),
		module.IntParam("case_sensitive", &m.caseSensitive, "accepted (AoRs are lower-cased by registrar)"),
		{Name: "preload", Kind: module.ParamStr, Multi: true, Doc: "table to create at start",
			Set: func(v module.Value) error { m.preload = append(m.preload, v.Str); return nil }},
	}
	accept := func(name string, kind module.ParamKind) {
		ps = append(ps, module.Param{Name: name, Kind: kind, Multi: true, Doc: "accepted, no effect in db_mode 0",
			Set: func(module.Value) error { m.ignored = append(m.ignored, name); return nil }})
	}
	for _, n := range []string{"ruid_column", "user_column", "domain_column", "contact_column", "expires_column",
		"q_column", "callid_column", "cseq_column", "flags_column", "cflags_column", "user_agent_column",
		"received_column", "path_column", "socket_column", "methods_column", "instance_column", "reg_id_column",
		"server_id_column", "connection_id_column", "keepalive_column", "partition_column", "xavp_contact",
		"ka_from", "ka_domain", "ka_method", "ka_logmsg"} {
		accept(n, module.ParamStr)
	}
	for _, n := range []string{"db_load", "db_insert_update", "fetch_rows", "handle_lost_tcp", "close_expired_tcp",
		"skip_remote_socket", "db_update_as_insert", "timer_procs", "db_check_update", "db_ops_ruid",
		"expires_type", "db_raw_fetch_type", "db_insert_null", "server_id_filter", "db_timer_clean",
		"rm_expired_delay", "version_table", "ka_mode", "ka_filter", "ka_timeout", "ka_loglevel",
		"load_rank", "db_clean_tcp"} {
		accept(n, module.ParamInt)
	}
	return ps
}

// Init checks the parameters, creates the preloaded tables and registers
// the RPC commands.
func (m *Module) Init(h *module.Host) error {
	if m.dbMode != 0 {
		return fmt.Errorf("db_mode %d is not supported by sipht: usrloc keeps registrations in memory only (db_mode 0)", m.dbMode)
	}
	if m.hashSize < 1 || m.hashSize > 20 {
		return fmt.Errorf("hash_size must be 1..20, got %d", m.hashSize)
	}
	if m.matchingMode < 0 || m.matchingMode > 3 {
		return fmt.Errorf("matching_mode must be 0..3, got %d", m.matchingMode)
	}
	if m.timerInterval <= 0 {
		return fmt.Errorf("timer_interval must be positive, got %d", m.timerInterval)
	}
	if m.natBFlag > 31 {
		return fmt.Errorf("nat_bflag must be -1..31, got %d", m.natBFlag)
	}
	for _, n := range m.ignored {
		h.Log.Debug("modparam has no effect in db_mode 0", "param", n)
	}
	for _, name := range m.preload {
		m.RegisterDomain(name)
	}
	m.ruidBase = fmt.Sprintf("%x-%x-", uint32(m.now()), os.Getpid())
	if h.Metrics != nil {
		if err := h.Metrics.Register(newCollector(m)); err != nil {
			return err
		}
	}
	return m.registerRPC(h)
}

// Start runs the expiry timer.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	h.Go(func(ctx context.Context) {
		t := time.NewTicker(time.Duration(m.timerInterval) * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.ExpireAll()
			}
		}
	})
	return nil
}

// ExpireAll removes expired contacts from every table now.
func (m *Module) ExpireAll() int {
	now := m.now()
	n := 0
	for _, d := range m.Domains() {
		n += d.Expire(now)
	}
	m.expiredTotal.Add(uint64(n))
	return n
}

// RegisterDomain returns the table called name, creating it (Kamailio's
// register_udomain, called by registrar's fixups for "location").
func (m *Module) RegisterDomain(name string) *Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.byName[name]; ok {
		return d
	}
	d := newDomain(name, int(m.hashSize), m.descTimeOrder != 0, m.now)
	// Kamailio inserts each new domain at the head of its list.
	m.domains = append([]*Domain{d}, m.domains...)
	m.byName[name] = d
	return d
}

// Domain returns the table called name, or nil.
func (m *Module) Domain(name string) *Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byName[name]
}

// Domains returns the tables in ul.dump order.
func (m *Module) Domains() []*Domain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Domain(nil), m.domains...)
}

// UseDomain reports whether AoRs include the domain (use_domain).
func (m *Module) UseDomain() bool { return m.useDomain != 0 }

// NatFlag returns the branch-flag mask of nat_bflag (0 when unset).
func (m *Module) NatFlag() uint32 {
	if m.natBFlag < 0 {
		return 0
	}
	return 1 << uint(m.natBFlag)
}

// NewRUID returns a new record unique id for a contact saved by the
// registrar ("uloc-<start>-<pid>-<n>", hex, as Kamailio's registrar).
func (m *Module) NewRUID() string {
	var b [64]byte
	out := append(b[:0], "uloc-"...)
	out = append(out, m.ruidBase...)
	return string(strconv.AppendUint(out, m.ruidSeq.Add(1), 16))
}

// NewContact returns a heap copy of c with a new registrar ruid, ready for
// Txn.Insert.
func (m *Module) NewContact(c *Contact) *Contact {
	n := new(Contact)
	*n = *c
	n.RUID = m.NewRUID()
	return n
}

// newRPCRUID is the ruid of a contact added by ul.add ("ulcx-...", usrloc's
// own sequence).
func (m *Module) newRPCRUID() string {
	return "ulcx-" + m.ruidBase + strconv.FormatUint(m.ulcxSeq.Add(1), 16)
}

// Now returns the current time in Unix seconds.
func (m *Module) Now() int64 { return m.now() }

// SetClock replaces the clock (tests); call before any table exists.
func (m *Module) SetClock(now func() int64) { m.now = now }

// Find results (Kamailio's get_ucontact).
const (
	Found          = 0
	NotFound       = 1
	InvalidCSeq    = -1 // same Call-ID with a lower (or repeated, after cseq_delay) CSeq
	Retransmission = -2 // same Call-ID and CSeq within cseq_delay seconds
)

// Find looks a contact up in the locked record as Kamailio's get_ucontact
// does with the module's matching_mode, then checks the CSeq of a contact
// registered with the same Call-ID.
func (m *Module) Find(t *Txn, uri, callID, path string, cseq int) (*Contact, int) {
	r := t.Record()
	if r == nil {
		return nil, NotFound
	}
	var found *Contact
	noCallID := false
	for _, c := range r.Contacts {
		ok := false
		switch m.matchingMode {
		case MatchContact:
			ok = c.URI == uri
		case MatchContactCallID:
			ok = c.URI == uri && c.CallID == callID
			noCallID = true
		case MatchContactPath:
			ok = c.URI == uri && (path == "" || c.Path == path)
		case MatchCallIDOnly:
			ok = c.CallID == callID
		}
		if ok {
			found = c
			break
		}
	}
	if found == nil {
		return nil, NotFound
	}
	if noCallID || found.CallID == callID {
		if cseq < found.CSeq {
			return nil, InvalidCSeq
		}
		if cseq == found.CSeq {
			if found.LastModified+m.cseqDelay > m.now() {
				return nil, Retransmission
			}
			return nil, InvalidCSeq
		}
	}
	return found, Found
}

// FindByInstance is get_ucontact_by_instance: with an instance
// (+sip.instance) the contact with the same instance and reg-id is the
// match (angle brackets ignored); without one it is Find.
func (m *Module) FindByInstance(t *Txn, uri, callID, path string, cseq int, instance string, regID int) (*Contact, int) {
	if instance == "" {
		return m.Find(t, uri, callID, path, cseq)
	}
	r := t.Record()
	if r == nil {
		return nil, NotFound
	}
	want := trimAngles(instance)
	for _, c := range r.Contacts {
		if c.Instance != "" && c.RegID == regID && trimAngles(c.Instance) == want {
			return c, Found
		}
	}
	return nil, NotFound
}

func trimAngles(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// FixAOR turns an AoR given to an RPC command into a table key: lower case,
// the domain part dropped unless use_domain (which requires one).
func (m *Module) FixAOR(aor string) (string, error) {
	at := strings.IndexByte(aor, '@')
	if m.useDomain != 0 {
		if at < 0 {
			return "", errors.New("Domain missing in AOR")
		}
	} else if at >= 0 {
		aor = aor[:at]
	}
	return ASCIILower(aor), nil
}

// ASCIILower lower-cases ASCII letters only, as Kamailio's strlower.
func ASCIILower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
