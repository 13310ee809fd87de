// Package pv is Kamailio's pv module for sipht: the pseudo-variables that
// read (and some that write) the SIP message — $si, $sp, $rm, $ru, $rU,
// $rd, $rp, $du, $fu, $tu, $ci, $cs, $ua, $hdr(name), $hdrc(name), $au ...
// — plus $shv, $xavp, $Ts/$TS, the transformations {nameaddr.*} and
// {tobody.*} and the functions pv_isset, pv_unset, is_int, typeof and
// not_empty. ($var, $vn, $avp, $cnt and the {s.*}/{uri.*}/{param.*}
// transformations belong to the script engine.)
//
// Each PV returns Kamailio's type: PVs that Kamailio gives as integers
// ($sp, $Rp, $ml, $mt, $hdrc, $cl ...) are ints, those it gives as
// strings-with-a-number ($cs, $rp, $rm, $pr ...) are strings, so that
// `$cs + 1` concatenates as it does in Kamailio.
//
// The Request-URI PVs read and write the core module's per-message
// Routing (modules/core), the same state forward() and the other modules
// use.
package pv

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/core"
)

func init() {
	module.Register(module.Info{
		Name:    "pv",
		Summary: "pseudo-variables of the SIP message ($ru, $si, $hdr ...), $shv, $xavp, nameaddr/tobody transformations",
		New:     func() module.Module { return &Module{} },
	})
}

// Module is one loaded pv module.
type Module struct {
	routing core.RoutingSlot
	shv     *shvStore
	xavp    script.Slot[xavpList]
	msgInfo script.Slot[msgInfo]
}

// Params declares shvset ("name=i:1" / "name=s:text", repeatable) and
// accepts avp_aliases (unused).
func (m *Module) Params() []module.Param {
	if m.shv == nil {
		m.shv = newShvStore()
	}
	return []module.Param{
		{Name: "shvset", Kind: module.ParamStr, Multi: true, Doc: "initial value of a $shv: name=i:number or name=s:text",
			Set: func(v module.Value) error { return m.shv.define(v.Str) }},
		{Name: "avp_aliases", Kind: module.ParamStr, Multi: true, Doc: "accepted for compatibility; ignored",
			Set: func(module.Value) error { return nil }},
	}
}

// Init registers the pseudo-variables, transformations and functions.
func (m *Module) Init(h *module.Host) error {
	if m.shv == nil {
		m.shv = newShvStore()
	}
	r := h.Script
	m.routing = core.RoutingOf(r)
	m.xavp = script.NewSlot(r, nil, func(l *xavpList) { l.reset() })
	m.msgInfo = script.NewSlot(r, nil, (*msgInfo).reset)
	var errs []string
	add := func(c script.PVClass) {
		c.Module = "pv"
		if err := r.AddPV(c); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, c := range m.messagePVs() {
		add(c)
	}
	add(script.PVClass{Name: "hdr", Inner: script.InnerRequired, Index: true, Fixup: m.fixupHdr})
	add(script.PVClass{Name: "hdrc", Inner: script.InnerRequired, Fixup: m.fixupHdrc})
	add(script.PVClass{Name: "shv", Inner: script.InnerRequired, Fixup: m.fixupShv})
	add(script.PVClass{Name: "xavp", Inner: script.InnerRequired, Fixup: m.fixupXavp})
	for _, t := range append(transforms(), moreTransforms()...) {
		t.Module = "pv"
		if err := r.AddTransform(t); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, f := range functions() {
		f.Module = "pv"
		if err := r.AddFunc(f); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// ---------------------------------------------------------------------------
// $shv

// shvStore holds the shared variables: one set for all workers, as
// Kamailio's shared memory.
type shvStore struct {
	mu      sync.RWMutex
	vals    map[string]*script.Value
	defined bool // some shvset was given (Kamailio only creates $shv then)
}

func newShvStore() *shvStore { return &shvStore{vals: map[string]*script.Value{}} }

// define parses a shvset value "name=i:12" or "name=s:text".
func (s *shvStore) define(def string) error {
	name, rest, ok := strings.Cut(def, "=")
	if !ok || name == "" || len(rest) < 2 || rest[1] != ':' {
		return fmt.Errorf("invalid shvset value %q (want name=i:number or name=s:text)", def)
	}
	var v script.Value
	switch rest[0] {
	case 's', 'S':
		v = script.Str(rest[2:])
	case 'i', 'I':
		n, err := strconv.ParseInt(rest[2:], 10, 32)
		if err != nil {
			return fmt.Errorf("invalid shvset value %q: %q is not an integer", def, rest[2:])
		}
		v = script.Int(n)
	default:
		return fmt.Errorf("invalid shvset value %q (type must be i or s)", def)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defined = true
	s.vals[name] = &v
	return nil
}

func (s *shvStore) slot(name string) *script.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[name]
	if !ok {
		z := script.Int(0)
		v = &z
		s.vals[name] = v
	}
	return v
}

// fixupShv compiles $shv(name). As in Kamailio 5.6, $shv can only be used
// when the config sets at least one with modparam("pv", "shvset", ...)
// (otherwise Kamailio cannot create it and refuses the config); a name not
// set there starts as 0.
func (m *Module) fixupShv(pc *script.PVFixupCtx) (*script.PV, error) {
	name := strings.TrimSpace(pc.Inner)
	if name == "" || strings.ContainsAny(name, "$()") {
		return nil, pc.Errorf("invalid shared variable name")
	}
	st := m.shv
	st.mu.RLock()
	defined := st.defined
	st.mu.RUnlock()
	if !defined {
		return nil, pc.Errorf("cannot register shvar %q: $shv needs modparam(\"pv\", \"shvset\", ...) in the config (as in Kamailio 5.6)", name)
	}
	p := st.slot(name)
	return &script.PV{
		Get: func(*script.Ctx) script.Value {
			st.mu.RLock()
			v := *p
			st.mu.RUnlock()
			return v
		},
		Set: func(_ *script.Ctx, v script.Value) error {
			if v.IsNull() {
				v = script.Int(0)
			}
			st.mu.Lock()
			*p = v
			st.mu.Unlock()
			return nil
		},
	}, nil
}
