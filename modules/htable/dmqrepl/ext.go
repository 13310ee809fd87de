package dmqrepl

import (
	"encoding/hex"
	"fmt"
	"strconv"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/kamjson"
)

// The sipht extension channel carries JSON bodies of this shape:
//
//	{"sv":1,"r":[record, ...],"ids":["sip:10.0.0.1:5060#5f1e...", ...]}
//
// "ids" lists the node ids the records refer to by index. Records:
//
//	{"o":"s","t":table,"k":key,"v":[t,i],"y":0|2,"i":n|"s":str,"x":exp,"xv":[t,i],"p":[[i,p,n],...]}
//	    the state of a key ("d":1 instead of a value for a tombstone)
//	{"o":"reset","t":table,"v":[t,i]}           every item older than v is gone (flush, sht_reset)
//	{"o":"rm","t":table,"m":op,"s":pattern,"w":0|1,"v":[t,i]}
//	                                            items older than v matching the pattern are gone
//	{"o":"dig","t":table,"f":[t,i],"b":hex}     digest: reset floor and 64 bucket sums
//	{"o":"pull","t":table,"b":hex}              send me your states of these buckets (bitmap)
//
// Versions are [hlc time, id index]. See docs/dmq.md.

const (
	// ExtChannel is the DMQ channel of the extension (Kamailio answers 404
	// to it; it is only ever sent to nodes that announced X-Sipht-DMQ).
	ExtChannel = "htable_sipht"
	// ExtContentType is the extension's Content-Type.
	ExtContentType = "application/x-sipht-htable+json"
	extVersion     = 1
	// maxExtBody is where a batch is closed (Kamailio's bulk size).
	maxExtBody = 60000
)

type record struct {
	op    string
	table string
	key   string
	st    keyState
	ver   version
	mop   string
	pat   string
	vals  bool
	floor version
	dig   [nBuckets]uint64
	bits  uint64
}

// extWriter builds extension bodies.
type extWriter struct {
	ids   *idTable
	buf   []byte
	n     int
	local map[uint32]int // interned id -> index in this body
	order []uint32
	limit int
}

func newExtWriter(ids *idTable) *extWriter {
	return &extWriter{ids: ids, local: map[uint32]int{}, limit: maxExtBody}
}

func (w *extWriter) reset() {
	w.buf = w.buf[:0]
	w.n = 0
	clear(w.local)
	w.order = w.order[:0]
}

func (w *extWriter) idx(n uint32) int {
	if i, ok := w.local[n]; ok {
		return i
	}
	i := len(w.order)
	w.local[n] = i
	w.order = append(w.order, n)
	return i
}

func (w *extWriter) ver(b []byte, v version) []byte {
	b = append(b, '[')
	b = strconv.AppendUint(b, v.t, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(w.idx(v.n)), 10)
	return append(b, ']')
}

// begin starts a record.
func (w *extWriter) begin(op, table string) {
	if w.n == 0 {
		w.buf = append(w.buf[:0], `{"sv":1,"r":[`...)
	} else {
		w.buf = append(w.buf, ',')
	}
	w.n++
	w.buf = append(w.buf, `{"o":`...)
	w.buf = kamjson.AppendString(w.buf, op)
	w.buf = append(w.buf, `,"t":`...)
	w.buf = kamjson.AppendString(w.buf, table)
}

// full reports whether the body should be sent before adding more.
func (w *extWriter) full() bool { return len(w.buf) >= w.limit }

func (w *extWriter) state(table, key string, s *keyState) {
	w.begin("s", table)
	b := w.buf
	b = append(b, `,"k":`...)
	b = kamjson.AppendString(b, key)
	if !s.ver.isZero() {
		b = append(b, `,"v":`...)
		b = w.ver(b, s.ver)
	}
	if s.dead {
		b = append(b, `,"d":1`...)
	} else if s.base.IsStr() {
		b = append(b, `,"y":2,"s":`...)
		b = kamjson.AppendString(b, s.base.Str())
	} else {
		b = append(b, `,"y":0,"i":`...)
		b = strconv.AppendInt(b, s.base.Int(), 10)
	}
	if s.exp != 0 {
		b = append(b, `,"x":`...)
		b = strconv.AppendInt(b, s.exp, 10)
	}
	if !s.xver.isZero() {
		b = append(b, `,"xv":`...)
		b = w.ver(b, s.xver)
	}
	if len(s.contrib) > 0 {
		b = append(b, `,"p":[`...)
		for i, c := range s.contrib {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(w.idx(c.node)), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, c.p, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, c.n, 10)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	w.buf = append(b, '}')
}

func (w *extWriter) resetRec(table string, v version) {
	w.begin("reset", table)
	w.buf = append(w.buf, `,"v":`...)
	w.buf = w.ver(w.buf, v)
	w.buf = append(w.buf, '}')
}

func (w *extWriter) rm(table string, m ht.Match, v version) {
	w.begin("rm", table)
	b := append(w.buf, `,"m":`...)
	b = kamjson.AppendString(b, m.Op.String())
	b = append(b, `,"s":`...)
	b = kamjson.AppendString(b, m.Pattern)
	if m.Values {
		b = append(b, `,"w":1`...)
	}
	b = append(b, `,"v":`...)
	b = w.ver(b, v)
	w.buf = append(b, '}')
}

func (w *extWriter) digest(table string, floor version, d *[nBuckets]uint64) {
	w.begin("dig", table)
	b := append(w.buf, `,"f":`...)
	b = w.ver(b, floor)
	b = append(b, `,"b":"`...)
	var x [8]byte
	for _, s := range d {
		for i := 0; i < 8; i++ {
			x[i] = byte(s >> (56 - 8*i))
		}
		b = hex.AppendEncode(b, x[:])
	}
	w.buf = append(b, `"}`...)
}

func (w *extWriter) pull(table string, bits uint64) {
	w.begin("pull", table)
	b := append(w.buf, `,"b":"`...)
	b = strconv.AppendUint(b, bits, 16)
	w.buf = append(b, `"}`...)
}

// body closes the records and returns a copy of the body (nil when empty).
func (w *extWriter) body() []byte {
	if w.n == 0 {
		return nil
	}
	b := append(w.buf, `],"ids":[`...)
	for i, n := range w.order {
		if i > 0 {
			b = append(b, ',')
		}
		b = kamjson.AppendString(b, w.ids.name(n))
	}
	b = append(b, `]}`...)
	out := append([]byte(nil), b...)
	w.reset()
	return out
}

// decodeExt parses an extension body; fn gets each record in order. A
// malformed body is errBadRequest; records that cannot be used (an unknown
// op from a newer sipht, bad fields) are counted in skipped.
func decodeExt(ids *idTable, body []byte, fn func(r *record)) (skipped int, err error) {
	root, err := parseJSON(body)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if root.kind != jObj {
		return 0, badf("body is not a JSON object")
	}
	var recs jval
	var idv []uint32
	sv := int64(-1)
	err = root.members(func(name string, v jval) error {
		switch name {
		case "sv":
			if v.kind == jNum && v.isInt {
				sv = v.int
			}
		case "r":
			recs = v
		case "ids":
			if v.kind != jArr {
				return badf("ids is not an array")
			}
			return v.elements(func(e jval) error {
				if e.kind != jStr || len(e.str) > 512 {
					return badf("bad node id")
				}
				i, ok := ids.intern(e.str)
				if !ok {
					return badf("too many node ids")
				}
				idv = append(idv, i)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if sv != extVersion || recs.kind != jArr {
		return 0, badf("not a sipht htable body (sv %d)", sv)
	}
	err = recs.elements(func(e jval) error {
		var r record
		if e.kind != jObj || !decodeRecord(&r, e, idv) {
			skipped++
			return nil
		}
		fn(&r)
		return nil
	})
	return skipped, err
}

func decodeVersion(v jval, idv []uint32) (version, bool) {
	if v.kind != jArr {
		return version{}, false
	}
	var out version
	i := 0
	ok := true
	v.elements(func(e jval) error {
		if e.kind != jNum || !e.isInt || e.int < 0 {
			ok = false
			return nil
		}
		switch i {
		case 0:
			out.t = uint64(e.int)
		case 1:
			if e.int >= int64(len(idv)) {
				ok = false
				return nil
			}
			out.n = idv[e.int]
		default:
			ok = false
		}
		i++
		return nil
	})
	return out, ok && i == 2
}

func decodeRecord(r *record, e jval, idv []uint32) bool {
	ok := true
	typ := int64(-1)
	var sval string
	var ival int64
	hasS, hasI := false, false
	e.members(func(name string, v jval) error {
		switch name {
		case "o":
			r.op, ok = v.str, ok && v.kind == jStr
		case "t":
			r.table, ok = v.str, ok && v.kind == jStr
		case "k":
			r.key, ok = v.str, ok && v.kind == jStr
		case "v":
			var good bool
			r.ver, good = decodeVersion(v, idv)
			r.st.ver = r.ver
			ok = ok && good
		case "xv":
			var good bool
			r.st.xver, good = decodeVersion(v, idv)
			ok = ok && good
		case "d":
			r.st.dead = v.kind == jNum && v.int == 1
		case "y":
			if v.kind == jNum && v.isInt {
				typ = v.int
			} else {
				ok = false
			}
		case "i":
			if v.kind == jNum && v.isInt {
				ival, hasI = v.int, true
			} else {
				ok = false
			}
		case "s":
			if v.kind == jStr {
				sval, hasS = v.str, true
				r.pat = v.str
			} else {
				ok = false
			}
		case "x":
			if v.kind == jNum && v.isInt && v.int >= 0 {
				r.st.exp = v.int
			} else {
				ok = false
			}
		case "p":
			if v.kind != jArr {
				ok = false
				return nil
			}
			v.elements(func(c jval) error {
				var nums [3]int64
				i := 0
				if c.kind != jArr {
					ok = false
					return nil
				}
				c.elements(func(x jval) error {
					if x.kind != jNum || !x.isInt || i >= 3 {
						ok = false
						return nil
					}
					nums[i] = x.int
					i++
					return nil
				})
				if i != 3 || nums[0] < 0 || nums[0] >= int64(len(idv)) || nums[1] < 0 || nums[2] < 0 {
					ok = false
					return nil
				}
				if len(r.st.contrib) < 4096 {
					r.st.contrib = append(r.st.contrib, contrib{node: idv[nums[0]], p: nums[1], n: nums[2]})
				}
				return nil
			})
		case "m":
			r.mop, ok = v.str, ok && v.kind == jStr
		case "w":
			r.vals = v.kind == jNum && v.int == 1
		case "f":
			var good bool
			r.floor, good = decodeVersion(v, idv)
			ok = ok && good
		case "b":
			if v.kind != jStr {
				ok = false
				return nil
			}
			switch r.op {
			case "dig":
				raw, err := hex.DecodeString(v.str)
				if err != nil || len(raw) != nBuckets*8 {
					ok = false
					return nil
				}
				for i := range r.dig {
					var x uint64
					for j := 0; j < 8; j++ {
						x = x<<8 | uint64(raw[i*8+j])
					}
					r.dig[i] = x
				}
			default:
				bits, err := strconv.ParseUint(v.str, 16, 64)
				if err != nil {
					ok = false
				}
				r.bits = bits
			}
		}
		return nil
	})
	if !ok || r.table == "" {
		return false
	}
	switch r.op {
	case "s":
		if r.key == "" {
			return false
		}
		if !r.st.dead {
			switch {
			case typ == typeStr && hasS:
				r.st.base = ht.Str(sval)
			case typ == typeInt && hasI:
				r.st.base = ht.Int(ival)
			default:
				return false
			}
		}
		return true
	case "reset":
		return true
	case "rm":
		return r.mop != "" && !r.ver.isZero()
	case "dig", "pull":
		return true
	}
	return false
}
