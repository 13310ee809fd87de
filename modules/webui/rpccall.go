package webui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/rpc"
)

// Transport is the transport name the web UI's calls carry in the RPC
// registry (and so in sipht_rpc_calls_total{transport}).
const Transport = "webui"

// maxReplyValues bounds the values one reply tree may hold (a pike.top ALL
// or a dmq.list_nodes of a huge cluster): beyond it the call fails with
// errReplyTooBig instead of growing without bound.
const maxReplyValues = 200_000

// errNotEnabled is the error of a call to a method that is not registered
// (its module is not loaded): the page says "not enabled".
var errNotEnabled = errors.New("not enabled")

// errReplyTooBig is the error of a reply with more than maxReplyValues values.
var errReplyTooBig = errors.New("reply too big for the web UI")

// errEnough stops a streamed dump once a page is complete.
var errEnough = errors.New("page complete")

// node is one value of an RPC reply: a scalar, or a struct or array with
// kids in the order the method wrote them. The root is an array of the
// method's top-level values.
type node struct {
	name      string
	val       rpc.Value
	container bool
	array     bool
	kids      []*node
}

// get returns the first member called name (nil when n is nil or has none).
func (n *node) get(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// str returns member name as text ("" when missing).
func (n *node) str(name string) string {
	k := n.get(name)
	if k == nil || k.container {
		return ""
	}
	return k.val.Text()
}

// num returns member name as an integer (0 when missing or not a number).
func (n *node) num(name string) int64 {
	k := n.get(name)
	if k == nil || k.container {
		return 0
	}
	switch k.val.Kind {
	case rpc.KindInt, rpc.KindLong, rpc.KindTime, rpc.KindBool:
		return k.val.I
	case rpc.KindDouble:
		return int64(k.val.F)
	}
	v, _ := strconv.ParseInt(k.val.Text(), 10, 64)
	return v
}

// first returns the first top-level value of a reply root (nil if none).
func (n *node) first() *node {
	if n == nil || len(n.kids) == 0 {
		return nil
	}
	return n.kids[0]
}

// treeEncoder builds a node tree from a reply (rpc.Encoder).
type treeEncoder struct {
	root   node
	stack  []*node
	values int
}

func (e *treeEncoder) Begin(rpc.Flags) error {
	e.root = node{container: true, array: true}
	e.stack = append(e.stack[:0], &e.root)
	return nil
}

func (e *treeEncoder) add(k *node) error {
	e.values++
	if e.values > maxReplyValues {
		return errReplyTooBig
	}
	top := e.stack[len(e.stack)-1]
	top.kids = append(top.kids, k)
	return nil
}

func (e *treeEncoder) Value(named bool, name string, v rpc.Value) error {
	return e.add(&node{name: name, val: v})
}

func (e *treeEncoder) Open(named bool, name string, array bool) error {
	k := &node{name: name, container: true, array: array}
	if err := e.add(k); err != nil {
		return err
	}
	e.stack = append(e.stack, k)
	return nil
}

func (e *treeEncoder) Close() error {
	if len(e.stack) > 1 {
		e.stack = e.stack[:len(e.stack)-1]
	}
	return nil
}

// str and num build request parameters as a JSON-RPC client sends them:
// the web UI calls methods with the JSON-RPC dialect, so a value typed in
// a form ("12") is converted by the method's own scan rules and a bad one
// gets the method's own fault.
func str(s string) rpc.Value { return rpc.Str(s) }

func num(n int) rpc.Value {
	return rpc.Value{Kind: rpc.KindDouble, F: float64(n), S: strconv.Itoa(n)}
}

// serve runs method through the registry with enc, as every other
// transport does (the call is observed for metrics). It returns
// errNotEnabled for an unknown method and the *rpc.Fault of a fault reply.
func serve(ctx context.Context, reg *rpc.Registry, enc rpc.Encoder, method string, params ...rpc.Value) error {
	res := reg.Serve(ctx, &rpc.Request{Method: method, Params: params, Dialect: rpc.DialectJSON, Transport: Transport}, enc)
	switch {
	case res.NotFound:
		return errNotEnabled
	case res.Fault != nil:
		return res.Fault
	case res.Err != nil:
		return res.Err
	}
	return nil
}

// call runs method and returns its reply tree.
func call(ctx context.Context, reg *rpc.Registry, method string, params ...rpc.Value) (*node, error) {
	var enc treeEncoder
	if err := serve(ctx, reg, &enc, method, params...); err != nil {
		return nil, err
	}
	return &enc.root, nil
}

// faultText is what the page shows for a failed call: the RPC fault as
// kamcmd prints it ("500 - No such htable"), or the error.
func faultText(method string, err error) string {
	var f *rpc.Fault
	if errors.As(err, &f) {
		return fmt.Sprintf("%s: error %d - %s", method, f.Code, f.Message)
	}
	return fmt.Sprintf("%s: %v", method, err)
}

// item is one hash table item as the pages show it.
type item struct {
	Name  string
	Value string
	Type  string // "str" or "int"
	// Expire is the absolute expiry (unix seconds), 0 for never, -1 when
	// the listing method does not say (htable.dump).
	Expire int64
	TTL    int64 // seconds left when Expire > 0
}

// page is one page of a table listing.
type page struct {
	Items []item
	Next  string // cursor of the next page, "" at the end
	// Dump is set when the page came from htable.dump (htable.list is not
	// available): the cursor is then an offset and deep pages cost more.
	Dump bool
	// Method is the listing method called (for fault messages).
	Method string
}

// listItems returns one page of table items whose names contain filter,
// from cursor on. It uses sipht's paginated htable.list (cost bounded by
// the page, except a filter scans until the page is full) and falls back
// to streaming Kamailio's htable.dump, filtered and cut on the fly, when
// htable.list is not registered.
func listItems(ctx context.Context, reg *rpc.Registry, table, cursor string, limit int, filter string) (page, error) {
	if _, ok := reg.Lookup("htable.list"); ok {
		return listPage(ctx, reg, table, cursor, limit, filter)
	}
	p := page{Dump: true, Method: "htable.dump"}
	if _, ok := reg.Lookup("htable.dump"); !ok {
		return p, errNotEnabled
	}
	off := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return p, fmt.Errorf("bad page cursor %q", cursor)
		}
		off = n
	}
	enc := &dumpPager{filter: filter, skip: off, limit: limit}
	err := serve(ctx, reg, enc, "htable.dump", str(table))
	if err != nil && !errors.Is(err, errEnough) {
		return p, err
	}
	p.Items = enc.items
	if enc.more {
		p.Next = strconv.Itoa(off + limit)
	}
	return p, nil
}

// listPage calls htable.list <table> <cursor> <limit> <filter>, whose reply
// is {table, count, next, items: [{name, value, type, expire, ttl}]}.
func listPage(ctx context.Context, reg *rpc.Registry, table, cursor string, limit int, filter string) (page, error) {
	root, err := call(ctx, reg, "htable.list", str(table), str(cursor), num(limit), str(filter))
	if err != nil {
		return page{Method: "htable.list"}, err
	}
	r := root.first()
	p := page{Next: r.str("next"), Method: "htable.list"}
	if its := r.get("items"); its != nil {
		p.Items = make([]item, 0, len(its.kids))
		for _, k := range its.kids {
			it := item{Name: k.str("name"), Value: k.str("value"), Type: k.str("type"), Expire: k.num("expire"), TTL: k.num("ttl")}
			if k.get("expire") == nil {
				it.Expire = -1
			}
			p.Items = append(p.Items, it)
		}
	}
	return p, nil
}

// dumpPager is an rpc.Encoder that reads htable.dump's reply as it is
// streamed (top-level structs {entry, size, slot: [{name, value, type}]}),
// keeps the items whose name contains filter after skipping skip of them,
// and stops the dump (errEnough) once it has one more than limit.
type dumpPager struct {
	filter      string
	skip, limit int
	depth       int
	cur         item
	matched     int
	items       []item
	more        bool
}

func (d *dumpPager) Begin(rpc.Flags) error { return nil }

func (d *dumpPager) Value(named bool, name string, v rpc.Value) error {
	if d.depth != 3 {
		return nil
	}
	switch name {
	case "name":
		d.cur.Name = v.Text()
	case "value":
		d.cur.Value = v.Text()
	case "type":
		d.cur.Type = v.Text()
	}
	return nil
}

func (d *dumpPager) Open(named bool, name string, array bool) error {
	d.depth++
	if d.depth == 3 {
		d.cur = item{Expire: -1}
	}
	return nil
}

func (d *dumpPager) Close() error {
	d.depth--
	if d.depth != 2 || (d.filter != "" && !strings.Contains(d.cur.Name, d.filter)) {
		return nil
	}
	d.matched++
	if d.matched <= d.skip {
		return nil
	}
	if len(d.items) == d.limit {
		d.more = true
		return errEnough
	}
	d.items = append(d.items, d.cur)
	return nil
}
