package pv

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/script"
)

// xavp is one extended AVP: a name with a value or a list of sub-xavps.
type xavp struct {
	name string
	v    script.Value
	sub  *xavpList // non-nil: the value is a list
}

// xavpList is a list of xavps, the newest first (Kamailio adds at the
// head). The per-message root list lives in a Slot.
type xavpList struct {
	items []*xavp
}

func (l *xavpList) reset() {
	clear(l.items)
	l.items = l.items[:0]
}

// maxXavps bounds the items of one list (per message).
const maxXavps = 1024

func (l *xavpList) add(x *xavp) bool {
	if len(l.items) >= maxXavps {
		return false
	}
	l.items = append(l.items, nil)
	copy(l.items[1:], l.items)
	l.items[0] = x
	return true
}

func (l *xavpList) count(name string) int {
	n := 0
	for _, x := range l.items {
		if x.name == name {
			n++
		}
	}
	return n
}

// get returns the idx-th xavp called name (0: the newest).
func (l *xavpList) get(name string, idx int) *xavp {
	for _, x := range l.items {
		if x.name == name {
			if idx == 0 {
				return x
			}
			idx--
		}
	}
	return nil
}

// rm removes the idx-th xavp called name, or all of them when idx < 0.
func (l *xavpList) rm(name string, idx int) {
	out := l.items[:0]
	k := 0
	for _, x := range l.items {
		if x.name == name {
			if idx < 0 || k == idx {
				k++
				continue
			}
			k++
		}
		out = append(out, x)
	}
	clear(l.items[len(out):])
	l.items = out
}

// xavpRef is one level of an $xavp name: name and optional [index].
type xavpRef struct {
	name string
	ix   script.Index
	has  bool // an index was given
}

// parseXavpLevel reads "name" or "name[idx]".
func parseXavpLevel(pc *script.PVFixupCtx, s string) (xavpRef, error) {
	s = strings.TrimSpace(s)
	r := xavpRef{name: s}
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") {
			return r, pc.Errorf("invalid xavp index in %q", s)
		}
		r.name = strings.TrimSpace(s[:i])
		in := s[i+1 : len(s)-1]
		r.has = true
		switch {
		case in == "*":
			r.ix = script.Index{Kind: script.IndexAll}
		case strings.HasPrefix(in, "$"):
			pv, err := pc.ParsePV(in)
			if err != nil {
				return r, err
			}
			r.ix = script.Index{Kind: script.IndexPV, PV: pv}
		default:
			n, err := strconv.Atoi(in)
			if err != nil {
				return r, pc.Errorf("invalid xavp index %q", in)
			}
			r.ix = script.Index{Kind: script.IndexInt, N: n}
		}
	}
	if r.name == "" || strings.ContainsAny(r.name, " \t$()=>") {
		return r, pc.Errorf("invalid xavp name %q", s)
	}
	return r, nil
}

// fixupXavp compiles $xavp(name[i]=>key[j]) with Kamailio's semantics:
// assigning to $xavp(r=>k) adds a new r at the head holding k; to
// $xavp(r[i]=>k) adds k to the i-th r; to $xavp(r[i]=>k[j]) replaces it;
// $null removes; reading gives the first (newest) match.
func (m *Module) fixupXavp(pc *script.PVFixupCtx) (*script.PV, error) {
	in := pc.Inner
	var root, key xavpRef
	var hasKey bool
	var err error
	if a, b, ok := strings.Cut(in, "=>"); ok {
		if root, err = parseXavpLevel(pc, a); err != nil {
			return nil, err
		}
		if key, err = parseXavpLevel(pc, b); err != nil {
			return nil, err
		}
		hasKey = true
	} else if root, err = parseXavpLevel(pc, in); err != nil {
		return nil, err
	}
	slot := m.xavp
	idxOf := func(c *script.Ctx, r xavpRef, l *xavpList) (int, bool) {
		if !r.has {
			return 0, false
		}
		if r.ix.Kind == script.IndexAll {
			return 0, true
		}
		i := r.ix.At(c)
		if i < 0 {
			i += l.count(r.name)
		}
		return i, false
	}
	printVal := func(x *xavp) script.Value {
		if x.sub != nil {
			return script.Str(fmt.Sprintf("<<xavp:%p>>", x.sub))
		}
		return x.v
	}
	get := func(c *script.Ctx) script.Value {
		l := slot.Get(c)
		i, _ := idxOf(c, root, l)
		x := l.get(root.name, i)
		if x == nil {
			return script.Null
		}
		if !hasKey {
			return printVal(x)
		}
		if x.sub == nil {
			return script.Null
		}
		j, all := idxOf(c, key, x.sub)
		if all {
			var parts []string
			for _, y := range x.sub.items {
				if y.name == key.name {
					parts = append(parts, printVal(y).AsString())
				}
			}
			if parts == nil {
				return script.Null
			}
			return script.Str(strings.Join(parts, ", "))
		}
		y := x.sub.get(key.name, j)
		if y == nil {
			return script.Null
		}
		return printVal(y)
	}
	count := func(c *script.Ctx) int {
		l := slot.Get(c)
		if !hasKey {
			return l.count(root.name)
		}
		i, _ := idxOf(c, root, l)
		x := l.get(root.name, i)
		if x == nil || x.sub == nil {
			return 0
		}
		return x.sub.count(key.name)
	}
	set := func(c *script.Ctx, v script.Value) error {
		l := slot.Get(c)
		i, allRoot := idxOf(c, root, l)
		if v.IsNull() {
			if !hasKey {
				if allRoot {
					l.rm(root.name, -1)
				} else {
					l.rm(root.name, i)
				}
				return nil
			}
			for k, x := range l.items {
				_ = k
				if x.name != root.name || x.sub == nil {
					continue
				}
				if allRoot || l.get(root.name, i) == x {
					j, allKey := idxOf(c, key, x.sub)
					if allKey {
						x.sub.rm(key.name, -1)
					} else {
						x.sub.rm(key.name, j)
					}
				}
			}
			return nil
		}
		if !hasKey {
			if root.has {
				if allRoot {
					return fmt.Errorf("cannot assign to $xavp(%s[*])", root.name)
				}
				x := l.get(root.name, i)
				if x == nil {
					return fmt.Errorf("no $xavp(%s[%d])", root.name, i)
				}
				x.v, x.sub = v, nil
				return nil
			}
			if !l.add(&xavp{name: root.name, v: v}) {
				return fmt.Errorf("too many xavps")
			}
			return nil
		}
		if root.has {
			if allRoot {
				return nil
			}
			x := l.get(root.name, i)
			if x == nil {
				return nil
			}
			if x.sub == nil {
				return fmt.Errorf("$xavp(%s) holds no list", root.name)
			}
			if key.has {
				j, allKey := idxOf(c, key, x.sub)
				if allKey {
					return nil
				}
				if y := x.sub.get(key.name, j); y != nil {
					y.v, y.sub = v, nil
				}
				return nil
			}
			if !x.sub.add(&xavp{name: key.name, v: v}) {
				return fmt.Errorf("too many xavps")
			}
			return nil
		}
		sub := &xavpList{}
		sub.add(&xavp{name: key.name, v: v})
		if !l.add(&xavp{name: root.name, sub: sub}) {
			return fmt.Errorf("too many xavps")
		}
		return nil
	}
	return &script.PV{Get: get, Set: set, Count: count}, nil
}
