// Package registrar is Kamailio's registrar module on top of usrloc:
// save() processes REGISTER requests and answers them itself (200 OK
// listing every binding of the AoR with its remaining expires, or 4xx/5xx
// with P-Registrar-Error), lookup() rewrites the Request-URI to the
// registered contact, registered() and unregister() query and change the
// location table.
//
// lookup() changes the per-message routing state every module shares
// through internal/sipmsg (the Request-URI, $du and branches; the core
// module owns it), so forward(), $ru and $du see the registered contact.
package registrar

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
	"github.com/sipht/sipht/modules/auth"
	"github.com/sipht/sipht/modules/internal/kamarg"
	"github.com/sipht/sipht/modules/usrloc"
)

func init() {
	module.Register(module.Info{
		Name:    "registrar",
		Summary: "SIP registrar: save, lookup, registered, unregister",
		New:     func() module.Module { return New() },
	})
}

// save() flags (Kamailio's REG_SAVE_*).
const (
	SaveMemOnly     = 1 << 0
	SaveNoReply     = 1 << 1
	SaveReplace     = 1 << 2
	SaveNoVariation = 1 << 3
	SavePrepReply   = 1 << 4
	saveAllFlags    = 1<<5 - 1
)

// HardMaxContacts bounds the contacts of one AoR when max_contacts is 0
// (Kamailio has no bound): beyond it save() answers 503 "Too many
// registered contacts", as it does for max_contacts.
const HardMaxContacts = 1000

// Module is the registrar module.
type Module struct {
	defaultExpires      int64
	defaultExpiresRange int64
	expiresRange        int64
	minExpires          int64
	maxExpires          int64
	maxContacts         int64
	retryAfter          int64
	caseSensitive       int64
	defaultQ            int64
	appendBranches      int64
	realmPrefix         string
	receivedParam       string
	receivedAVP         string
	methodFiltering     int64
	usePath             int64
	pathMode            int64
	gruuEnabled         int64
	outboundMode        int64
	contactMaxSize      int64
	minExpiresMode      int64
	useExpired          int64
	ignored             []string

	host    *module.Host
	ul      *usrloc.Module
	auth    *auth.Module
	log     *slog.Logger
	msgs    *sipmsg.Msgs // the shared routing state (R-URI, $du, branches) lookup() changes
	warn    sync.Once
	rcvAVP  *script.PV
	domains map[string]*usrloc.Domain
	slot    script.Slot[saveReq]
	sockets socketNames

	// accepted and rejected count save() outcomes (Kamailio's
	// registrar:accepted_regs and rejected_regs statistics)
	accepted, rejected atomic.Uint64
}

// New returns a registrar with Kamailio's defaults.
func New() *Module {
	return &Module{
		defaultExpires: 3600,
		minExpires:     60,
		defaultQ:       usrloc.QUnspecified,
		appendBranches: 1,
		receivedParam:  "received",
		pathMode:       2,
		gruuEnabled:    1,
		contactMaxSize: 512,
		domains:        map[string]*usrloc.Domain{},
	}
}

func intP(name string, dst *int64, doc string) module.Param {
	return module.Param{Name: name, Kind: module.ParamInt, Doc: doc, Set: func(v module.Value) error { *dst = v.Int; return nil }}
}

func strP(name string, dst *string, doc string) module.Param {
	return module.Param{Name: name, Kind: module.ParamStr, Doc: doc, Set: func(v module.Value) error { *dst = v.Str; return nil }}
}

// Params lists the registrar modparams (the ones sipht does not implement
// are accepted when they keep their default meaning, see Init).
func (m *Module) Params() []module.Param {
	ps := []module.Param{
		intP("default_expires", &m.defaultExpires, "expires of a contact without one (3600)"),
		intP("default_expires_range", &m.defaultExpiresRange, "percent of random reduction of default_expires"),
		intP("expires_range", &m.expiresRange, "percent of random reduction of requested expires"),
		intP("min_expires", &m.minExpires, "smallest expires granted (60)"),
		intP("max_expires", &m.maxExpires, "largest expires granted (0: no limit)"),
		intP("max_contacts", &m.maxContacts, "contacts per AoR (0: no limit)"),
		intP("retry_after", &m.retryAfter, "Retry-After seconds added to 5xx replies"),
		intP("case_sensitive", &m.caseSensitive, "1: compare the user part of AoRs case-sensitively"),
		intP("default_q", &m.defaultQ, "q of contacts without one (-1: unspecified)"),
		intP("append_branches", &m.appendBranches, "lookup() adds the other contacts as branches"),
		strP("realm_prefix", &m.realmPrefix, "prefix stripped from the AoR domain (use_domain)"),
		strP("received_param", &m.receivedParam, "name of the contact parameter carrying the received address"),
		strP("received_avp", &m.receivedAVP, "AVP holding the received address to store"),
		intP("method_filtering", &m.methodFiltering, "lookup() skips contacts that do not accept the method"),
		intP("use_path", &m.usePath, "Path support (not supported by sipht: must stay 0)"),
		intP("path_mode", &m.pathMode, "Path mode (no effect without use_path)"),
		intP("gruu_enabled", &m.gruuEnabled, "GRUU (not generated by sipht)"),
		intP("outbound_mode", &m.outboundMode, "SIP outbound (not supported by sipht: must stay 0)"),
		intP("contact_max_size", &m.contactMaxSize, "longest contact URI accepted (512)"),
		intP("min_expires_mode", &m.minExpiresMode, "1: refuse expires below min_expires with 423"),
		intP("use_expired_contacts", &m.useExpired, "lookup() also uses expired contacts"),
	}
	for _, n := range []string{"sock_mode", "sock_flag", "path_use_received", "path_check_local", "xavp_rcd_mask",
		"regid_mode", "flow_timer", "lookup_filter_mode", "tcp_persistent_flag"} {
		n := n
		ps = append(ps, module.Param{Name: n, Kind: module.ParamInt, Doc: "accepted, no effect in sipht",
			Set: func(module.Value) error { m.ignored = append(m.ignored, n); return nil }})
	}
	for _, n := range []string{"sock_hdr_name", "xavp_cfg", "xavp_rcd", "event_callback"} {
		n := n
		ps = append(ps, module.Param{Name: n, Kind: module.ParamStr, Doc: "accepted, no effect in sipht",
			Set: func(module.Value) error { m.ignored = append(m.ignored, n); return nil }})
	}
	return ps
}

// Init binds to usrloc and declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.log = h.Log
	m.msgs = sipmsg.For(h.Script)
	ul, ok := h.Loaded("usrloc")
	if !ok {
		return errors.New(`the usrloc module is needed: add loadmodule "usrloc.so"`)
	}
	if m.ul, ok = ul.(*usrloc.Module); !ok {
		return errors.New("the loaded usrloc module is not sipht's usrloc")
	}
	if a, ok := h.Loaded("auth"); ok {
		m.auth, _ = a.(*auth.Module)
	}
	switch {
	case m.usePath != 0:
		return errors.New("use_path is not supported by sipht (Path headers are not stored)")
	case m.outboundMode != 0:
		return errors.New("outbound_mode is not supported by sipht")
	case m.defaultQ < -1 || m.defaultQ > 1000:
		return fmt.Errorf("default_q must be -1..1000, got %d", m.defaultQ)
	case m.defaultExpiresRange < 0 || m.defaultExpiresRange > 100 || m.expiresRange < 0 || m.expiresRange > 100:
		return errors.New("default_expires_range and expires_range are percentages (0..100)")
	case m.minExpires < 0 || m.maxExpires < 0 || m.defaultExpires < 0:
		return errors.New("default_expires, min_expires and max_expires must not be negative")
	}
	for _, n := range m.ignored {
		h.Log.Debug("modparam has no effect in sipht", "param", n)
	}
	if h.Metrics != nil {
		err := h.Metrics.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sipht_registrar_accepted_total",
			Help: "REGISTER requests save() accepted."}, func() float64 { return float64(m.accepted.Load()) }))
		if err == nil {
			err = h.Metrics.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sipht_registrar_rejected_total",
				Help: "REGISTER requests save() rejected."}, func() float64 { return float64(m.rejected.Load()) }))
		}
		if err != nil {
			return err
		}
	}
	// save()'s state is kept per worker and reused, so the slices it
	// parses into keep their capacity
	m.slot = script.NewSlot[saveReq](h.Script, nil, func(r *saveReq) {
		c, b := r.contacts[:0], r.contactHdr[:0]
		if cap(c) > 256 {
			c = nil
		}
		if cap(b) > 16<<10 {
			b = nil
		}
		*r = saveReq{contacts: c, contactHdr: b}
	})
	return m.declare(h.Script)
}

// domainArg resolves a table name at compile time (Kamailio registers the
// usrloc domain in the fixup).
func (m *Module) domainArg(fc *script.FixupCtx, i int) (*usrloc.Domain, error) {
	name, ok := fc.Arg(i).ConstString()
	if !ok || name == "" {
		return nil, fc.Arg(i).Errorf("the location table name must be a constant string")
	}
	d := m.ul.RegisterDomain(name)
	m.domains[name] = d
	return d, nil
}

func (m *Module) declare(r *script.Registry) error {
	optStr := func(fc *script.FixupCtx, i int) (*kamarg.Str, error) {
		if fc.NArgs() <= i {
			return nil, nil
		}
		s, err := kamarg.CompileStr(fc.Arg(i))
		if err != nil {
			return nil, err
		}
		return &s, nil
	}
	funcs := []script.Func{
		{Name: "save", MinArgs: 1, MaxArgs: 3, Module: "registrar",
			Routes: script.RequestRoute | script.FailureRoute | script.OnReplyRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				d, err := m.domainArg(fc, 0)
				if err != nil {
					return nil, err
				}
				if err := m.resolveReceivedAVP(fc); err != nil {
					return nil, err
				}
				flags := int64(0)
				if fc.NArgs() > 1 {
					s, ok := fc.Arg(1).ConstString()
					if !ok {
						return nil, fc.Arg(1).Errorf("save() flags must be a constant number")
					}
					flags, err = parseFlags(s)
					if err != nil || flags > saveAllFlags {
						return nil, fc.Arg(1).Errorf("bad flags <%s>", s)
					}
				}
				uri, err := optStr(fc, 2)
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int {
					var u string
					if uri != nil {
						if u = uri.Get(c); u == "" {
							c.Log.Error("registrar: invalid uri parameter")
							return -1
						}
					}
					return m.Save(c, d, int(flags), u)
				}, nil
			}},
		{Name: "lookup", MinArgs: 1, MaxArgs: 2, Module: "registrar", Routes: script.RequestRoute | script.FailureRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				d, err := m.domainArg(fc, 0)
				if err != nil {
					return nil, err
				}
				uri, err := optStr(fc, 1)
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int {
					var u string
					if uri != nil {
						if u = uri.Get(c); u == "" {
							c.Log.Error("registrar: invalid uri parameter")
							return -1
						}
					}
					return m.Lookup(c, d, u)
				}, nil
			}},
		{Name: "registered", MinArgs: 1, MaxArgs: 4, Module: "registrar",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				d, err := m.domainArg(fc, 0)
				if err != nil {
					return nil, err
				}
				uri, err := optStr(fc, 1)
				if err != nil {
					return nil, err
				}
				for i := 2; i < fc.NArgs(); i++ {
					if _, err := kamarg.CompileInt(fc.Arg(i)); err != nil {
						return nil, err
					}
				}
				return func(c *script.Ctx) int {
					var u string
					if uri != nil {
						if u = uri.Get(c); u == "" {
							c.Log.Error("registrar: invalid uri parameter")
							return -1
						}
					}
					return m.Registered(c, d, u)
				}, nil
			}},
		{Name: "unregister", MinArgs: 2, MaxArgs: 3, Module: "registrar",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				d, err := m.domainArg(fc, 0)
				if err != nil {
					return nil, err
				}
				uri, err := kamarg.CompileStr(fc.Arg(1))
				if err != nil {
					return nil, err
				}
				ruid, err := optStr(fc, 2)
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int {
					u := uri.Get(c)
					if ruid == nil {
						if u == "" {
							c.Log.Error("registrar: invalid uri parameter")
							return -1
						}
						return m.Unregister(c, d, u, "")
					}
					r := ruid.Get(c)
					if r == "" {
						c.Log.Error("registrar: invalid ruid parameter")
						return -1
					}
					return m.Unregister(c, d, u, r)
				}, nil
			}},
	}
	for _, f := range funcs {
		if err := r.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// resolveReceivedAVP resolves received_avp at the first save() call site.
func (m *Module) resolveReceivedAVP(fc *script.FixupCtx) error {
	if m.receivedAVP == "" || m.rcvAVP != nil {
		return nil
	}
	pv, err := fc.ParsePV(m.receivedAVP)
	if err != nil {
		return fmt.Errorf("received_avp: %w", err)
	}
	m.rcvAVP = pv
	return nil
}

// parseFlags reads a decimal or 0x-hex flags constant (Kamailio's strno2int).
func parseFlags(s string) (int64, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseInt(s[2:], 16, 64)
	}
	return strconv.ParseInt(s, 10, 64)
}
