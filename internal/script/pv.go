package script

import (
	"fmt"
	"strings"

	"github.com/sipht/sipht/internal/cfg"
)

// pvRef is a resolved PV reference with its transformations.
type pvRef struct {
	text   string
	pv     *PV
	trans  []TransFunc
	isNull bool
}

// get returns the value and false when a transformation failed.
func (r *pvRef) get(c *Ctx) (Value, bool) {
	v := r.pv.Get(c)
	for _, t := range r.trans {
		var ok bool
		if v, ok = t(c, v); !ok {
			return Null, false
		}
	}
	return v, true
}

// value returns the value; a failed transformation gives Null.
func (r *pvRef) value(c *Ctx) Value {
	v, _ := r.get(c)
	return v
}

func nullGet(*Ctx) Value { return Null }

// resolvePV resolves a PV reference through the registry, once per
// distinct text.
func (cm *compiler) resolvePV(spec cfg.PVSpec, pos cfg.Pos) (*pvRef, error) {
	if r, ok := cm.pvCache[spec.Text]; ok {
		return r, nil
	}
	cls := cm.reg.pvs[spec.Name]
	if cls == nil {
		return nil, &UnknownPVError{Pos: pos, Class: spec.Name, Text: spec.Text}
	}
	switch {
	case cls.Inner == InnerNone && spec.HasInner:
		return nil, cfg.Errorf(pos, "%s: $%s does not take an inner name", spec.Text, spec.Name)
	case cls.Inner == InnerRequired && !spec.HasInner:
		return nil, cfg.Errorf(pos, "%s: $%s expects an inner name: $%s(name)", spec.Text, spec.Name, spec.Name)
	case spec.HasIndex && !cls.Index:
		return nil, cfg.Errorf(pos, "%s: $%s does not take an index", spec.Text, spec.Name)
	}
	pc := &PVFixupCtx{Pos: pos, Spec: spec, Inner: spec.Inner, cm: cm}
	pv, err := cls.Fixup(pc)
	if err != nil {
		if _, ok := err.(*cfg.Error); !ok {
			if _, ok := err.(*UnknownPVError); !ok {
				err = &cfg.Error{Pos: pos, Msg: spec.Text + ": " + err.Error(), Err: err}
			}
		}
		return nil, err
	}
	if pv == nil || pv.Get == nil {
		return nil, cfg.Errorf(pos, "%s: the $%s fixup returned no getter", spec.Text, spec.Name)
	}
	ref := &pvRef{text: spec.Text, pv: pv, isNull: spec.Name == "null" && len(spec.Trans) == 0}
	for _, ts := range spec.Trans {
		t := cm.reg.trans[ts.Class+"."+ts.Name]
		if t == nil {
			return nil, &UnknownTransformError{Pos: pos, Name: ts.Class + "." + ts.Name, Text: spec.Text}
		}
		tc := &TransFixupCtx{Pos: pos, Spec: ts, Params: ts.Params, cm: cm}
		f, err := t.Fixup(tc)
		if err != nil {
			return nil, err
		}
		ref.trans = append(ref.trans, f)
	}
	cm.pvCache[spec.Text] = ref
	return ref, nil
}

// ---------------------------------------------------------------------------
// core PV classes

func registerCorePVs(r *Registry) {
	must(r.AddPV(PVClass{Name: "null", Fixup: func(*PVFixupCtx) (*PV, error) {
		return &PV{Get: nullGet}, nil
	}}))
	rc := func(*PVFixupCtx) (*PV, error) {
		return &PV{Get: func(c *Ctx) Value { return Int(int64(c.rc)) }}, nil
	}
	for _, n := range []string{"rc", "retcode", "?"} {
		must(r.AddPV(PVClass{Name: n, Fixup: rc}))
	}
	must(r.AddPV(PVClass{Name: "var", Inner: InnerRequired, Fixup: fixupVar}))
	must(r.AddPV(PVClass{Name: "vn", Inner: InnerRequired, Fixup: fixupVN}))
	must(r.AddPV(PVClass{Name: "avp", Inner: InnerRequired, Index: true, Fixup: fixupAVP}))
	must(r.AddPV(PVClass{Name: "cnt", Inner: InnerRequired, Fixup: fixupCnt}))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func checkVarName(pc *PVFixupCtx) (string, error) {
	name := strings.TrimSpace(pc.Inner)
	if name == "" || strings.ContainsAny(name, "$()") {
		return "", pc.Errorf("invalid script variable name %q", pc.Inner)
	}
	return name, nil
}

// $var(name): per-worker script variable; never null (unset reads 0,
// assigning $null stores 0).
func fixupVar(pc *PVFixupCtx) (*PV, error) {
	name, err := checkVarName(pc)
	if err != nil {
		return nil, err
	}
	p := pc.cm.prog
	idx, ok := p.varIndex[name]
	if !ok {
		idx = len(p.varNames)
		p.varIndex[name] = idx
		p.varNames = append(p.varNames, name)
	}
	return &PV{
		Get: func(c *Ctx) Value { return c.vars[idx] },
		Set: func(c *Ctx, v Value) error {
			if v.k == KindNull {
				v = Int(0)
			}
			c.vars[idx] = v
			return nil
		},
	}, nil
}

// $vn(name): like $var but may hold $null (its initial value).
func fixupVN(pc *PVFixupCtx) (*PV, error) {
	name, err := checkVarName(pc)
	if err != nil {
		return nil, err
	}
	p := pc.cm.prog
	idx, ok := p.vnIndex[name]
	if !ok {
		idx = len(p.vnNames)
		p.vnIndex[name] = idx
		p.vnNames = append(p.vnNames, name)
	}
	return &PV{
		Get: func(c *Ctx) Value { return c.vnull[idx] },
		Set: func(c *Ctx, v Value) error { c.vnull[idx] = v; return nil },
	}, nil
}

// $avp(name), $avp(s:name), $avp(i:N), $avp($pv) with [n], [-n], [*],
// [$pv]: per-message value stacks. Assignment pushes; assigning $null
// deletes the newest value ([*]: all values); assigning to [*] replaces all.
func fixupAVP(pc *PVFixupCtx) (*PV, error) {
	inner := strings.TrimSpace(pc.Inner)
	if inner == "" {
		return nil, pc.Errorf("empty AVP name")
	}
	ix, err := pc.Index()
	if err != nil {
		return nil, err
	}
	var list func(c *Ctx, create bool) *[]Value
	if inner[0] == '$' {
		f, err := pc.ParseFormat(inner)
		if err != nil {
			return nil, err
		}
		list = func(c *Ctx, create bool) *[]Value {
			name := avpName(f.String(c))
			if i, ok := c.prog.avpIndex[name]; ok {
				return &c.avps.lists[i]
			}
			return c.avps.dynList(name, create)
		}
	} else {
		name := avpName(inner)
		p := pc.cm.prog
		idx, ok := p.avpIndex[name]
		if !ok {
			idx = len(p.avpNames)
			p.avpIndex[name] = idx
			p.avpNames = append(p.avpNames, name)
		}
		list = func(c *Ctx, _ bool) *[]Value { return &c.avps.lists[idx] }
	}
	pv := &PV{
		Count: func(c *Ctx) int {
			if l := list(c, false); l != nil {
				return len(*l)
			}
			return 0
		},
	}
	pv.Get = func(c *Ctx) Value {
		l := list(c, false)
		if l == nil || len(*l) == 0 {
			return Null
		}
		vals := *l
		n := len(vals)
		switch ix.Kind {
		case IndexNone:
			return vals[n-1]
		case IndexAll:
			b := c.GetBuf()
			for i := n - 1; i >= 0; i-- {
				if i != n-1 {
					b = append(b, ", "...)
				}
				b = vals[i].AppendString(b)
			}
			s := string(b)
			c.PutBuf(b)
			return Str(s)
		}
		k := ix.At(c)
		if k < 0 {
			k = -k
			if k > n {
				return Null
			}
			k = n - k
		}
		if k >= n {
			return Null
		}
		return vals[n-1-k]
	}
	pv.Set = func(c *Ctx, v Value) error {
		l := list(c, v.k != KindNull)
		if v.k == KindNull {
			if l == nil || len(*l) == 0 {
				return nil
			}
			if ix.Kind == IndexAll {
				*l = (*l)[:0]
			} else {
				*l = (*l)[:len(*l)-1]
			}
			return nil
		}
		if ix.Kind == IndexAll {
			*l = (*l)[:0]
		}
		*l = append(*l, v)
		return nil
	}
	return pv, nil
}

// avpName normalises "s:name" to "name" (i:N stays distinct).
func avpName(s string) string {
	if strings.HasPrefix(s, "s:") {
		return s[2:]
	}
	return s
}

// $cnt(pv): number of values of a multi-value PV ($avp, $(avp(x)[*]) ...).
func fixupCnt(pc *PVFixupCtx) (*PV, error) {
	s := strings.TrimSpace(pc.Inner)
	sp, n, err := cfg.ParsePV(s)
	if err != nil || n != len(s) {
		return nil, pc.Errorf("expected a pseudo-variable inside $cnt(...)")
	}
	ref, err := pc.cm.resolvePV(sp, pc.Pos)
	if err != nil {
		return nil, err
	}
	if ref.pv.Count == nil {
		return nil, pc.Errorf("%s has no multiple values to count", sp.Text)
	}
	count := ref.pv.Count
	return &PV{Get: func(c *Ctx) Value { return Int(int64(count(c))) }}, nil
}

// ---------------------------------------------------------------------------
// core functions

func registerCoreFuncs(r *Registry) {
	flagFn := func(name string, op func(c *Ctx, n int) int) Func {
		return Func{Name: name, MinArgs: 1, MaxArgs: 1, Core: true,
			Fixup: func(fc *FixupCtx) (Handler, error) {
				n, err := fc.Arg(0).Flag()
				if err != nil {
					return nil, err
				}
				return func(c *Ctx) int { return op(c, n) }, nil
			}}
	}
	must(r.AddFunc(flagFn("setflag", func(c *Ctx, n int) int { c.SetFlag(n); return 1 })))
	must(r.AddFunc(flagFn("resetflag", func(c *Ctx, n int) int { c.ResetFlag(n); return 1 })))
	must(r.AddFunc(flagFn("isflagset", func(c *Ctx, n int) int {
		if c.IsFlagSet(n) {
			return 1
		}
		return -1
	})))
}

// describe helps error messages name a Value's type.
func describe(v Value) string { return fmt.Sprintf("%s %q", v.k, v.AsString()) }
