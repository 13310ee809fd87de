package htable

import (
	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/script"
)

// Iterator limits, as Kamailio's HT_ITERATOR_SIZE and
// HT_ITERATOR_NAME_SIZE.
const (
	maxIterators    = 4
	maxIteratorName = 31
)

// OriginUnreplicated marks local changes that Kamailio does not replicate
// over DMQ although they are ordinary writes: the sht_iterator_* writes.
// Write-behind (dbmode=2) persists them; a DMQ replicator skips them.
const OriginUnreplicated ht.Origin = 16

// scriptIter is one named iterator of a worker (Kamailio keeps four per
// process; sipht four per script context, i.e. per worker).
type scriptIter struct {
	name       string // "" = free
	t          *ht.Table
	it         *ht.Iterator
	positioned bool      // on an item (Kamailio: it != NULL)
	override   *ht.Value // value written through the iterator since it moved here
}

func (s *scriptIter) view() *ht.ItemView { return s.it.View() }

// value is $shtitval: the value the iterator saw, or what it wrote since.
func (s *scriptIter) value() ht.Value {
	if s.override != nil {
		return *s.override
	}
	return s.it.Value()
}

// iterators is a worker's set of iterators. It lives in a script.Slot
// whose reset keeps it, so that iterators survive from one message to the
// next as Kamailio's per-process ones do.
type iterators struct {
	its [maxIterators]scriptIter
}

// find returns Kamailio's ht_iterator_find: the index of the iterator
// named name, else of the first free one, else -1.
func (s *iterators) find(name string) int {
	k := -1
	for i := range s.its {
		if s.its[i].name != "" {
			if s.its[i].name == name {
				return i
			}
		} else if k == -1 {
			k = i
		}
	}
	return k
}

// current returns the iterator named name when it is positioned on an
// item ($shtitkey, $shtitval), else nil.
func (s *iterators) current(name string) *scriptIter {
	for i := range s.its {
		if it := &s.its[i]; it.name == name && it.positioned {
			return it
		}
	}
	return nil
}

func (m *Module) iterStart(c *script.Ctx, name, table string) int {
	s := m.iterSlot.Get(c)
	k := s.find(name)
	if k < 0 {
		c.Log.Error("no iterator available", "max", maxIterators, "iterator", name)
		return -1
	}
	it := &s.its[k]
	if it.name == "" {
		if len(name) > maxIteratorName {
			c.Log.Error("iterator name is too long", "iterator", name, "max", maxIteratorName)
			return -1
		}
		it.name = name
	}
	it.it, it.positioned, it.override = nil, false, nil
	it.t = m.table(table)
	if it.t == nil {
		c.Log.Error("cannot get hash table", "table", table, "iterator", name)
		return -1
	}
	return 1
}

// get returns the iterator for next/rm/sets/seti/setex, logging why it
// cannot be used.
func (m *Module) iterGet(c *script.Ctx, name string, needItem bool) *scriptIter {
	s := m.iterSlot.Get(c)
	k := s.find(name)
	if k < 0 {
		c.Log.Error("iterator not found", "iterator", name)
		return nil
	}
	it := &s.its[k]
	if it.t == nil {
		c.Log.Error("iterator not initialized", "iterator", name)
		return nil
	}
	if needItem && !it.positioned {
		c.Log.Error("iterator not used", "iterator", name)
		return nil
	}
	return it
}

// advance moves it to the next item; an iterator that is not positioned
// starts again from the first slot (Kamailio does the same).
func (it *scriptIter) advance() bool {
	if !it.positioned {
		it.it = it.t.Iter()
	}
	it.override = nil
	it.positioned = it.it.Next()
	return it.positioned
}

func (m *Module) iterNext(c *script.Ctx, name string) int {
	it := m.iterGet(c, name, false)
	if it == nil {
		return -1
	}
	if it.advance() {
		return 1
	}
	return -1
}

func (m *Module) iterEnd(c *script.Ctx, name string) int {
	s := m.iterSlot.Get(c)
	k := s.find(name)
	if k < 0 || s.its[k].name == "" {
		c.Log.Error("iterator not found", "iterator", name)
		return -1
	}
	s.its[k] = scriptIter{}
	return 1
}

// iterRm removes the current item and moves to the next one: 1 when
// there is one, -2 when the walk is over (Kamailio's codes).
func (m *Module) iterRm(c *script.Ctx, name string) int {
	it := m.iterGet(c, name, true)
	if it == nil {
		return -1
	}
	it.t.As(OriginUnreplicated).Delete(string(it.view().Key))
	if it.advance() {
		return 1
	}
	return -2
}

func (m *Module) iterSet(c *script.Ctx, name string, v ht.Value) int {
	it := m.iterGet(c, name, true)
	if it == nil {
		return -1
	}
	if err := it.t.As(OriginUnreplicated).Set(string(it.view().Key), v); err != nil {
		c.Log.Error("cannot set the iterator's item", "iterator", name, "err", err)
		return -1
	}
	it.override = &v
	return 1
}

func (m *Module) iterSetex(c *script.Ctx, name string, ttl int64) int {
	it := m.iterGet(c, name, true)
	if it == nil {
		return -1
	}
	it.t.As(OriginUnreplicated).SetExpire(string(it.view().Key), ttl)
	return 1
}
