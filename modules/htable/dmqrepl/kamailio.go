package dmqrepl

import (
	"errors"
	"fmt"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/kamjson"
)

// Kamailio's htable DMQ action codes (ht_dmq.h).
const (
	ActNone          = 0
	ActSync          = 1
	ActSetCell       = 2
	ActSetCellExpire = 3
	ActDelCell       = 4
	ActRmCellRe      = 5
	ActRmCellSw      = 6
	ActRmCellEw      = 7 // 6.0+, rejected by every version
	ActRmCellIn      = 8 // 6.0+, rejected by every version
)

// Kamailio's AVP value type flags as the JSON "type" field carries them.
const (
	typeInt = 0
	typeStr = 2
)

// maxCellGroup is where Kamailio starts a new bulk-sync message
// (dmq_cell_group_max_size).
const maxCellGroup = 60000

// action is one decoded single-action body.
type action struct {
	Action  int64
	HTName  string
	CName   string
	Type    int64
	Str     string
	Int     int64
	Mode    int64
	has     uint8
	badType string // a member had the wrong JSON type (first one)
}

const (
	hasAction = 1 << iota
	hasHT
	hasCName
	hasType
	hasStr
	hasInt
	hasMode
)

// cell is one cell of a bulk sync body.
type cell struct {
	HTName, CName string
	Type          int64
	Str           string
	Int           int64
	Expire        int64
	has           uint8
	bad           string // why the cell is skipped ("" = usable)
}

// errBadRequest marks bodies that get "400 Bad Request".
var errBadRequest = errors.New("bad request")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// decodeKamailio decodes an htable DMQ body as Kamailio 5.6 does: a JSON
// object whose first member is "cells" is a bulk sync, anything else a
// single action whose members must all be known (an unknown member is 400,
// as in Kamailio). Where Kamailio would crash or read garbage (a non-string
// htname, a missing cname, an empty object) the body is rejected with 400.
func decodeKamailio(body []byte) (bulk bool, a action, cells []cell, err error) {
	if len(body) == 0 {
		return false, a, nil, badf("empty body")
	}
	root, err := parseJSON(body)
	if err != nil {
		return false, a, nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if root.kind != jObj {
		return false, a, nil, badf("body is a JSON %s, not an object", root.kind)
	}
	if root.firstMember() == "cells" {
		cells, err = decodeCells(root)
		return true, a, cells, err
	}
	err = root.members(func(name string, v jval) error {
		switch name {
		case "action":
			a.Action, a.has = numField(&a.badType, name, v), a.has|hasAction
		case "htname":
			a.HTName, a.has = strField(&a.badType, name, v), a.has|hasHT
		case "cname":
			a.CName, a.has = strField(&a.badType, name, v), a.has|hasCName
		case "type":
			a.Type, a.has = numField(&a.badType, name, v), a.has|hasType
		case "strval":
			a.Str, a.has = strField(&a.badType, name, v), a.has|hasStr
		case "intval":
			a.Int, a.has = numField(&a.badType, name, v), a.has|hasInt
		case "mode":
			a.Mode, a.has = numField(&a.badType, name, v), a.has|hasMode
		default:
			return badf("unrecognized field %q", name)
		}
		return nil
	})
	if err != nil {
		return false, a, nil, err
	}
	if a.badType != "" {
		return false, a, nil, badf("%s", a.badType)
	}
	if a.has&hasAction == 0 {
		return false, a, nil, badf("no action")
	}
	need := func(bits uint8, what string) error {
		if a.has&bits != bits {
			return badf("action %d needs %s", a.Action, what)
		}
		return nil
	}
	switch a.Action {
	case ActSetCell:
		if err := need(hasHT|hasCName, "htname and cname"); err != nil {
			return false, a, nil, err
		}
		if a.Type&typeStr != 0 {
			err = need(hasStr, "strval")
		} else {
			err = need(hasInt, "intval")
		}
	case ActSetCellExpire:
		if err := need(hasHT|hasCName, "htname and cname"); err != nil {
			return false, a, nil, err
		}
		if a.Type&typeStr == 0 {
			err = need(hasInt, "intval")
		}
	case ActDelCell:
		err = need(hasHT|hasCName, "htname and cname")
	case ActRmCellRe, ActRmCellSw:
		err = need(hasHT|hasStr, "htname and strval")
		if err == nil && a.Type&typeStr == 0 {
			err = badf("action %d needs type 2", a.Action)
		}
	}
	return false, a, nil, err
}

func numField(bad *string, name string, v jval) int64 {
	if v.kind != jNum {
		if *bad == "" {
			*bad = fmt.Sprintf("%s is a JSON %s, not a number", name, v.kind)
		}
		return 0
	}
	if v.isInt {
		return v.int
	}
	return int64(v.num)
}

func strField(bad *string, name string, v jval) string {
	if v.kind != jStr {
		if *bad == "" {
			*bad = fmt.Sprintf("%s is a JSON %s, not a string", name, v.kind)
		}
		return ""
	}
	return v.str
}

// maxCells bounds the cells of one bulk message (a 64 KiB datagram holds
// about 1,300 of the smallest).
const maxCells = 20000

func decodeCells(root jval) ([]cell, error) {
	var cells []cell
	err := root.members(func(name string, v jval) error {
		if name != "cells" {
			return nil // Kamailio looks at the first member only
		}
		if v.kind != jArr {
			return badf("cells is a JSON %s, not an array", v.kind)
		}
		return v.elements(func(ev jval) error {
			if len(cells) >= maxCells {
				return badf("more than %d cells", maxCells)
			}
			var c cell
			if ev.kind != jObj {
				c.bad = "cell is not an object"
				cells = append(cells, c)
				return nil
			}
			ev.members(func(n string, mv jval) error {
				switch n {
				case "htname":
					c.HTName, c.has = strField(&c.bad, n, mv), c.has|hasHT
				case "cname":
					c.CName, c.has = strField(&c.bad, n, mv), c.has|hasCName
				case "type":
					c.Type, c.has = numField(&c.bad, n, mv), c.has|hasType
				case "strval":
					c.Str, c.has = strField(&c.bad, n, mv), c.has|hasStr
				case "intval":
					c.Int, c.has = numField(&c.bad, n, mv), c.has|hasInt
				case "expire":
					c.Expire = numField(&c.bad, n, mv)
				}
				return nil // unknown members: Kamailio warns and goes on
			})
			if c.bad == "" {
				switch {
				case c.has&(hasHT|hasCName) != hasHT|hasCName || c.HTName == "" || c.CName == "":
					c.bad = "cell without htname or cname"
				case c.Type&typeStr != 0 && c.has&hasStr == 0:
					c.bad = "string cell without strval"
				case c.Type&typeStr == 0 && c.has&hasInt == 0:
					c.bad = "integer cell without intval"
				}
			}
			cells = append(cells, c)
			return nil
		})
	})
	return cells, err
}

// cellValue is the value of a cell or action.
func valueOf(typ int64, s string, n int64) ht.Value {
	if typ&typeStr != 0 {
		return ht.Str(s)
	}
	return ht.Int(n)
}

// ---------------------------------------------------------------------
// Encoding, byte for byte as Kamailio 5.6 (captured payloads in
// docs/kamailio-facts §6.4).

func appendHead(b []byte, act int, table string) []byte {
	b = append(b, `{"action":`...)
	b = appendJSONInt(b, int64(act))
	b = append(b, `,"htname":`...)
	return kamjson.AppendString(b, table)
}

// appendSetCell: {"action":2,"htname":..,"cname":..,"type":2,"strval":..,"mode":1}
// or "type":0,"intval":n.
func appendSetCell(b []byte, table, key string, v ht.Value) []byte {
	b = appendHead(b, ActSetCell, table)
	b = append(b, `,"cname":`...)
	b = kamjson.AppendString(b, key)
	b = appendTypedValue(b, v)
	return append(b, `,"mode":1}`...)
}

func appendTypedValue(b []byte, v ht.Value) []byte {
	if v.IsStr() {
		b = append(b, `,"type":2,"strval":`...)
		return kamjson.AppendString(b, v.Str())
	}
	b = append(b, `,"type":0,"intval":`...)
	return appendJSONInt(b, v.Int())
}

// appendSetExpire: {"action":3,"htname":..,"cname":..,"type":0,"intval":ttl,"mode":0}
func appendSetExpire(b []byte, table, key string, ttl int64) []byte {
	b = appendHead(b, ActSetCellExpire, table)
	b = append(b, `,"cname":`...)
	b = kamjson.AppendString(b, key)
	b = append(b, `,"type":0,"intval":`...)
	b = appendJSONInt(b, ttl)
	return append(b, `,"mode":0}`...)
}

// appendDelCell: {"action":4,"htname":..,"cname":..,"mode":0}
func appendDelCell(b []byte, table, key string) []byte {
	b = appendHead(b, ActDelCell, table)
	b = append(b, `,"cname":`...)
	b = kamjson.AppendString(b, key)
	return append(b, `,"mode":0}`...)
}

// appendRm: {"action":5|6,"htname":..,"type":2,"strval":pattern,"mode":0|1}
func appendRm(b []byte, act int, table, pattern string, values bool) []byte {
	b = appendHead(b, act, table)
	b = append(b, `,"type":2,"strval":`...)
	b = kamjson.AppendString(b, pattern)
	if values {
		return append(b, `,"mode":1}`...)
	}
	return append(b, `,"mode":0}`...)
}

// appendSync: {"action":1}, or with "htname" for one table (5.8's form,
// which 5.6 accepts and ignores).
func appendSync(b []byte, table string) []byte {
	if table == "" {
		return append(b, `{"action":1}`...)
	}
	b = append(b, `{"action":1,"htname":`...)
	b = kamjson.AppendString(b, table)
	return append(b, '}')
}

// appendCell appends one bulk-sync cell:
// {"htname":..,"cname":..,"type":0,"intval":n,"expire":e}.
func appendCell(b []byte, table string, it *ht.Item) []byte {
	b = append(b, `{"htname":`...)
	b = kamjson.AppendString(b, table)
	b = append(b, `,"cname":`...)
	b = kamjson.AppendString(b, it.Key)
	b = appendTypedValue(b, it.Value)
	b = append(b, `,"expire":`...)
	b = appendJSONInt(b, it.Expire)
	return append(b, '}')
}

// cellWriter groups cells into {"cells":[...]} bodies of about
// maxCellGroup bytes, as Kamailio's sync does.
type cellWriter struct {
	buf   []byte
	n     int
	flush func(body []byte) error
}

func (w *cellWriter) add(table string, it *ht.Item) error {
	if w.n == 0 {
		w.buf = append(w.buf[:0], `{"cells":[`...)
	} else {
		w.buf = append(w.buf, ',')
	}
	w.buf = appendCell(w.buf, table, it)
	w.n++
	if len(w.buf)+2 >= maxCellGroup {
		return w.done()
	}
	return nil
}

// done sends the pending cells, if any.
func (w *cellWriter) done() error {
	if w.n == 0 {
		return nil
	}
	return w.final()
}

// final sends the pending cells; with none pending it sends
// {"cells":[]}, as Kamailio's last flush does.
func (w *cellWriter) final() error {
	if w.n == 0 {
		w.buf = append(w.buf[:0], `{"cells":[`...)
	}
	w.buf = append(w.buf, `]}`...)
	body := append([]byte(nil), w.buf...)
	w.n = 0
	return w.flush(body)
}
