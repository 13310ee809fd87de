package htable

import (
	"errors"
	"strings"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/script"
)

// registerScript declares the pseudo-variables, the functions and the
// per-worker data (iterators, the expired record).
func (m *Module) registerScript(r *script.Registry) error {
	m.iterSlot = script.NewSlot[iterators](r, nil, func(*iterators) {})
	m.recordSlot = script.NewSlot[expiredRecord](r, nil, func(*expiredRecord) {})
	if err := m.registerPVs(r); err != nil {
		return err
	}
	return m.registerFuncs(r)
}

// expiredRecord is the item $shtrecord shows in
// event_route[htable:expired:<table>].
type expiredRecord struct{ item *ht.Item }

// strArg is a string argument printed per call (Kamailio's spve).
type strArg struct{ f *script.Format }

func (a strArg) get(c *script.Ctx) string { return a.f.String(c) }

// tableArg is a table-name argument: resolved at compile time when
// constant and defined, else looked up per call.
type tableArg struct {
	f *script.Format
	t *ht.Table
}

func (m *Module) newTableArg(a *script.Arg) (tableArg, error) {
	f, err := a.Format()
	if err != nil {
		return tableArg{}, err
	}
	ta := tableArg{f: f}
	if f.IsConst() {
		ta.t = m.table(f.Const())
		if ta.t == nil {
			m.log.Warn("htable not defined: calls using it fail", "table", f.Const(), "at", a.Pos.String(), "tables", m.tableNames())
		}
	}
	return ta, nil
}

// get returns the table, or nil after logging why.
func (m *Module) getTable(c *script.Ctx, a tableArg) *ht.Table {
	if a.t != nil {
		return a.t
	}
	if a.f.IsConst() {
		c.Log.Error("cannot get hash table", "table", a.f.Const())
		return nil
	}
	b := a.f.Append(c, c.GetBuf())
	var t *ht.Table
	if m.reg != nil {
		t = m.reg.TableBytes(b)
	}
	if t == nil {
		if len(b) == 0 {
			c.Log.Error("cannot get the hash table name")
		} else {
			c.Log.Error("cannot get hash table", "table", string(b))
		}
	}
	c.PutBuf(b)
	return t
}

// fixers for the common argument shapes
func formats(fc *script.FixupCtx) ([]strArg, error) {
	out := make([]strArg, fc.NArgs())
	for i := range out {
		f, err := fc.Arg(i).Format()
		if err != nil {
			return nil, err
		}
		out[i] = strArg{f}
	}
	return out, nil
}

// registerFuncs declares the sht_* functions with Kamailio 5.6's
// arguments and return codes, plus 6.1's sht_inc, sht_dec, sht_is_null.
func (m *Module) registerFuncs(r *script.Registry) error {
	add := func(name string, n int, fix func(fc *script.FixupCtx) (script.Handler, error)) error {
		return r.AddFunc(script.Func{Name: name, MinArgs: n, MaxArgs: n, Module: "htable", Fixup: fix})
	}
	var errs []error
	reg := func(err error) { errs = append(errs, err) }

	reg(add("sht_print", 0, func(fc *script.FixupCtx) (script.Handler, error) {
		return func(c *script.Ctx) int { m.printTables(); return 1 }, nil
	}))

	reg(add("sht_rm", 2, func(fc *script.FixupCtx) (script.Handler, error) {
		ta, err := m.newTableArg(fc.Arg(0))
		if err != nil {
			return nil, err
		}
		key, err := fc.Arg(1).Format()
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			t := m.getTable(c, ta)
			if t == nil {
				return -1
			}
			k := key.Append(c, c.GetBuf())
			defer c.PutBuf(k)
			if len(k) == 0 {
				c.Log.Error("sht_rm: cannot get the item name")
				return -1
			}
			t.DeleteBytes(k)
			return 1
		}, nil
	}))

	// sht_rm_name_re("t=>re"), sht_rm_value_re("t=>re")
	rmRe := func(values bool) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			ref, err := m.cellArg(fc)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				if ref.t == nil {
					return 1 // Kamailio: an unknown table is not an error here
				}
				k := ref.key(c)
				re := string(k)
				c.PutBuf(k)
				if re == "" {
					c.Log.Error(fc.Name+": empty regular expression", "table", ref.name)
					return -1
				}
				if err := removeMatching(ref.t, ht.MatchRegex, re, values); err != nil {
					c.Log.Error(fc.Name+": "+err.Error(), "table", ref.name)
					return -1
				}
				return 1
			}, nil
		}
	}
	reg(add("sht_rm_name_re", 1, rmRe(false)))
	reg(add("sht_rm_value_re", 1, rmRe(true)))

	// byMatch builds the functions of (table, op, value) that match item
	// names or values with an operator (re, sw, ew, in; eq and ne when
	// eqne): it checks op and value, finds the table and calls do.
	byMatch := func(eqne bool, do func(t *ht.Table, mo ht.MatchOp, val string) (bool, error)) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			ta, err := m.newTableArg(fc.Arg(0))
			if err != nil {
				return nil, err
			}
			args, err := formats(fc)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				op, val := args[1].get(c), args[2].get(c)
				if op == "" || val == "" {
					c.Log.Error(fc.Name + ": empty match operator or value")
					return -1
				}
				t := m.getTable(c, ta)
				if t == nil {
					return -1
				}
				mo, err := ht.ParseMatchOp(op)
				if err != nil || !eqne && (mo == ht.MatchEqual || mo == ht.MatchNotEqual) {
					c.Log.Warn(fc.Name+": unsupported match operator", "op", op)
					return -1
				}
				ok, err := do(t, mo, val)
				if err != nil {
					c.Log.Error(fc.Name+": "+err.Error(), "table", t.Name())
					return -1
				}
				if ok {
					return 1
				}
				return -1
			}, nil
		}
	}

	// sht_rm_name(t, op, v), sht_rm_value(t, op, v): re, sw; sipht (as
	// 6.0/6.1) also ew and in.
	rmOp := func(values bool) func(fc *script.FixupCtx) (script.Handler, error) {
		return byMatch(false, func(t *ht.Table, mo ht.MatchOp, val string) (bool, error) {
			return true, removeMatching(t, mo, val, values)
		})
	}
	reg(add("sht_rm_name", 3, rmOp(false)))
	reg(add("sht_rm_value", 3, rmOp(true)))

	// sht_match_name / sht_has_name, sht_match_str_value / sht_has_str_value
	matchNames := byMatch(true, func(t *ht.Table, mo ht.MatchOp, val string) (bool, error) {
		return t.HasName(mo, val)
	})
	matchValues := byMatch(true, func(t *ht.Table, mo ht.MatchOp, val string) (bool, error) {
		return t.HasStrValue(mo, val)
	})
	reg(add("sht_match_name", 3, matchNames))
	reg(add("sht_has_name", 3, matchNames))
	reg(add("sht_match_str_value", 3, matchValues))
	reg(add("sht_has_str_value", 3, matchValues))

	// sht_setxs(t, k, sval, exp), sht_setxi(t, k, ival, exp)
	setx := func(str bool) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			ta, err := m.newTableArg(fc.Arg(0))
			if err != nil {
				return nil, err
			}
			key, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			var sval *script.Format
			var ival script.IntParam
			if str {
				sval, err = fc.Arg(2).Format()
			} else {
				ival, err = fc.Arg(2).Int()
			}
			if err != nil {
				return nil, err
			}
			exp, err := fc.Arg(3).Int()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				t := m.getTable(c, ta)
				if t == nil {
					return -1
				}
				k := key.String(c)
				if k == "" {
					c.Log.Error(fc.Name + ": cannot get item name")
					return -1
				}
				var v ht.Value
				if str {
					v = ht.Str(sval.String(c))
				} else {
					v = ht.Int(ival.Get(c))
				}
				if err := t.SetWithExpire(k, v, exp.Get(c)); err != nil {
					c.Log.Error(fc.Name+": cannot set the item", "table", t.Name(), "key", k, "err", err)
					return -1
				}
				// Kamailio 5.6's sht_setxi returns 0 here, which ends
				// the script; sipht returns 1 (docs/kamailio-differences.md).
				return 1
			}, nil
		}
	}
	reg(add("sht_setxs", 4, setx(true)))
	reg(add("sht_setxi", 4, setx(false)))

	reg(add("sht_reset", 1, func(fc *script.FixupCtx) (script.Handler, error) {
		ta, err := m.newTableArg(fc.Arg(0))
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			t := m.getTable(c, ta)
			if t == nil {
				return -1
			}
			t.Reset()
			return 1
		}, nil
	}))

	// sht_lock("t=>key"), sht_unlock("t=>key"): the worker's context owns
	// the lock.
	lock := func(unlock bool) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			ref, err := m.cellArg(fc)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				if ref.t == nil {
					c.Log.Error("cannot get $sht root", "table", ref.name)
					return -11
				}
				k := ref.key(c)
				key := string(k)
				c.PutBuf(k)
				if unlock {
					if !ref.t.Unlock(key, c) {
						c.Log.Warn("sht_unlock: the slot is not locked by this worker", "table", ref.name, "key", key)
					}
				} else {
					ref.t.Lock(key, c)
				}
				return 1
			}, nil
		}
	}
	reg(add("sht_lock", 1, lock(false)))
	reg(add("sht_unlock", 1, lock(true)))

	// iterators
	reg(add("sht_iterator_start", 2, func(fc *script.FixupCtx) (script.Handler, error) {
		args, err := formats(fc)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			name, table := args[0].get(c), args[1].get(c)
			if name == "" || table == "" {
				c.Log.Error("sht_iterator_start: cannot get the iterator or hash table name")
				return -1
			}
			return m.iterStart(c, name, table)
		}, nil
	}))
	iterOne := func(fn func(c *script.Ctx, name string) int) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			args, err := formats(fc)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				name := args[0].get(c)
				if name == "" {
					c.Log.Error(fc.Name + ": cannot get iterator name")
					return -1
				}
				return fn(c, name)
			}, nil
		}
	}
	reg(add("sht_iterator_next", 1, iterOne(m.iterNext)))
	reg(add("sht_iterator_end", 1, iterOne(m.iterEnd)))
	reg(add("sht_iterator_rm", 1, iterOne(m.iterRm)))
	reg(add("sht_iterator_sets", 2, func(fc *script.FixupCtx) (script.Handler, error) {
		args, err := formats(fc)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			name := args[0].get(c)
			if name == "" {
				c.Log.Error("sht_iterator_sets: cannot get iterator name")
				return -1
			}
			return m.iterSet(c, name, ht.Str(args[1].get(c)))
		}, nil
	}))
	iterInt := func(fn func(c *script.Ctx, name string, n int64) int) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			nf, err := fc.Arg(0).Format()
			if err != nil {
				return nil, err
			}
			n, err := fc.Arg(1).Int()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				name := nf.String(c)
				if name == "" {
					c.Log.Error(fc.Name + ": cannot get iterator name")
					return -1
				}
				return fn(c, name, n.Get(c))
			}, nil
		}
	}
	reg(add("sht_iterator_seti", 2, iterInt(func(c *script.Ctx, name string, n int64) int {
		return m.iterSet(c, name, ht.Int(n))
	})))
	reg(add("sht_iterator_setex", 2, iterInt(m.iterSetex)))

	// Kamailio 6.1: sht_inc, sht_dec, sht_is_null
	incdec := func(delta int64) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			ta, err := m.newTableArg(fc.Arg(0))
			if err != nil {
				return nil, err
			}
			key, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				t := m.getTable(c, ta)
				if t == nil {
					return -1
				}
				k := key.Append(c, c.GetBuf())
				_, ok := t.AddBytes(k, delta)
				c.PutBuf(k)
				if !ok {
					return -1
				}
				return 1
			}, nil
		}
	}
	reg(add("sht_inc", 2, incdec(1)))
	reg(add("sht_dec", 2, incdec(-1)))
	reg(add("sht_is_null", 2, func(fc *script.FixupCtx) (script.Handler, error) {
		args, err := formats(fc)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			tn := args[0].f.Append(c, c.GetBuf())
			defer c.PutBuf(tn)
			var t *ht.Table
			if m.reg != nil {
				t = m.reg.TableBytes(tn)
			}
			if t == nil {
				return 2
			}
			if t.Def().HasInitVal {
				return -2
			}
			k := args[1].f.Append(c, c.GetBuf())
			defer c.PutBuf(k)
			if len(k) == 0 {
				return 3
			}
			if exists(t, k) {
				return -1
			}
			return 1
		}, nil
	}))
	return errors.Join(errs...)
}

// cellArg parses the constant "table=>format" argument of sht_lock,
// sht_unlock, sht_rm_name_re and sht_rm_value_re.
func (m *Module) cellArg(fc *script.FixupCtx) (*cellRef, error) {
	s, err := fc.Arg(0).String()
	if err != nil {
		return nil, err
	}
	ref, err := m.newCellRef(s, s, fc.ParseFormat)
	if err != nil {
		return nil, fc.Arg(0).Errorf("%v", err)
	}
	return ref, nil
}

// removeMatching removes items by pattern; an empty pattern removes
// nothing.
func removeMatching(t *ht.Table, op ht.MatchOp, pattern string, values bool) error {
	if pattern == "" {
		return nil
	}
	var err error
	if values {
		_, err = t.RemoveValues(op, pattern)
	} else {
		_, err = t.RemoveNames(op, pattern)
	}
	return err
}

// printTables logs every table's content at error level, as Kamailio's
// sht_print does (slots with items only).
func (m *Module) printTables() {
	if m.reg == nil {
		return
	}
	for _, t := range m.reg.Tables() {
		d := t.Def()
		m.log.Error("htable[" + d.Name + "]: autoexpire " + itoa(int64(d.AutoExpire)) + ", slots " + itoa(int64(t.Slots())))
		t.Dump(func(sv ht.SlotView) error {
			var b strings.Builder
			for i := range sv.Items {
				it := &sv.Items[i]
				b.Reset()
				b.WriteString("htable[" + d.Name + "][" + itoa(int64(sv.Index)) + "] cell: ")
				b.Write(it.Key)
				if it.Kind == ht.KindStr {
					b.WriteString(" v-s: ")
					b.Write(it.Str)
				} else {
					b.WriteString(" v-i: " + itoa(it.Int))
				}
				b.WriteString(" expire: " + itoa(it.Expire))
				m.log.Error(b.String())
			}
			return nil
		})
	}
}
