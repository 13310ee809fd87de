package dmqrepl

import (
	"errors"
	"strings"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/kamjson"
)

// The bodies sipht writes for Kamailio nodes are the payloads captured
// from Kamailio 5.6.3 (kamailio-facts §6.4), byte for byte.
func TestKamailioPayloadsMatchCapture(t *testing.T) {
	cases := []struct{ got, want string }{
		{string(appendSync(nil, "")), `{"action":1}`},
		{string(appendSetCell(nil, "r", "alice", ht.Str("hello"))), `{"action":2,"htname":"r","cname":"alice","type":2,"strval":"hello","mode":1}`},
		{string(appendSetCell(nil, "n", "cnt", ht.Int(5))), `{"action":2,"htname":"n","cname":"cnt","type":0,"intval":5,"mode":1}`},
		{string(appendSetCell(nil, "r", "tmp", ht.Str("val"))), `{"action":2,"htname":"r","cname":"tmp","type":2,"strval":"val","mode":1}`},
		{string(appendSetExpire(nil, "r", "tmp", 60)), `{"action":3,"htname":"r","cname":"tmp","type":0,"intval":60,"mode":0}`},
		{string(appendDelCell(nil, "r", "alice")), `{"action":4,"htname":"r","cname":"alice","mode":0}`},
		{string(appendSetExpire(nil, "r", "pre", 100)), `{"action":3,"htname":"r","cname":"pre","type":0,"intval":100,"mode":0}`},
		{string(appendRm(nil, ActRmCellRe, "r", "^a.*", false)), `{"action":5,"htname":"r","type":2,"strval":"^a.*","mode":0}`},
		{string(appendRm(nil, ActRmCellSw, "r", "ab", true)), `{"action":6,"htname":"r","type":2,"strval":"ab","mode":1}`},
		{string(appendSync(nil, "t")), `{"action":1,"htname":"t"}`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
	var bodies []string
	w := &cellWriter{flush: func(b []byte) error { bodies = append(bodies, string(b)); return nil }}
	w.add("n", &ht.Item{Key: "cnt", Value: ht.Int(5)})
	w.add("r", &ht.Item{Key: "tmp", Value: ht.Str("val"), Expire: 1795684305})
	w.final()
	if want := `{"cells":[{"htname":"n","cname":"cnt","type":0,"intval":5,"expire":0},{"htname":"r","cname":"tmp","type":2,"strval":"val","expire":1795684305}]}`; len(bodies) != 1 || bodies[0] != want {
		t.Errorf("bulk %q\nwant %s", bodies, want)
	}
	bodies = nil
	w.final()
	if len(bodies) != 1 || bodies[0] != `{"cells":[]}` {
		t.Errorf("empty final %q", bodies)
	}
}

// Strings are escaped as srjson escapes them: quotes, backslashes and
// control characters only; UTF-8 and even invalid bytes pass unchanged.
func TestJSONStrings(t *testing.T) {
	in := "a\"b\\c\bd\fe\nf\rg\th\x01i\x1fj/é\xff"
	got := string(kamjson.AppendString(nil, in))
	want := `"a\"b\\c\bd\fe\nf\rg\th\u0001i\u001fj/é` + "\xff" + `"`
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	v, err := parseJSON([]byte(got))
	if err != nil || v.str != in {
		t.Fatalf("round trip %q %v", v.str, err)
	}
	v, err = parseJSON([]byte(`"\u00e9\ud83d\ude00\/"`))
	if err != nil || v.str != "é😀/" {
		t.Fatalf("escapes: %q %v", v.str, err)
	}
}

// Malformed and unusual bodies: Kamailio's answer (400 for what it cannot
// parse or does not know, 500 for what it cannot apply) without its
// crashes (non-string fields, missing names).
func TestDecodeKamailioBadInput(t *testing.T) {
	cases := []struct {
		body string
		ok   bool
	}{
		{`{"action":2,"htname":"r","cname":"a","type":2,"strval":"x","mode":1}`, true},
		{`{"mode":1,"strval":"x","type":2,"cname":"a","htname":"r","action":2}`, true}, // any order
		{`{"action":4,"htname":"r","cname":"a","mode":0}`, true},
		{`{"action":3,"htname":"r","cname":"a","type":0,"intval":10,"mode":0}`, true},
		{`{"action":1}`, true},
		{`{"action":1,"htname":"r"}`, true},
		{`{"action":9,"htname":"r","cname":"a"}`, true}, // decodes; replay answers 500
		{``, false},
		{`{}`, false}, // crashes Kamailio 5.6
		{`[]`, false},
		{`"x"`, false},
		{`{"action":2,"htname":"r","cname":"a","type":2,"strval":"x","mode":1,"last_modified":1}`, false},
		{`{"action":2,"htname":1,"cname":"a","type":2,"strval":"x"}`, false},
		{`{"action":2,"htname":"r","type":2,"strval":"x"}`, false},
		{`{"action":2,"htname":"r","cname":"a","type":0}`, false},
		{`{"action":2,"htname":"r","cname":"a","type":2}`, false},
		{`{"action":"2","htname":"r","cname":"a"}`, false},
		{`{"action":5,"htname":"r","type":0,"intval":1}`, false},
		{`{"action":4,"htname":"r","cname":"a"} trailing`, false},
		{`{"action":4,"htname":"r","cname":"a"`, false},
		{`{"action":4,"htname":"r\u00","cname":"a"}`, false},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), false},
		{`{"cells":[{"htname":"r","cname":"a","type":2,"strval":"x","expire":0},{"htname":1},{},"x",{"htname":"r","cname":"b","type":0,"intval":1,"junk":true}]}`, true},
		{`{"cells":{}}`, false},
	}
	for _, c := range cases {
		_, _, _, err := decodeKamailio([]byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.body, err, c.ok)
		}
		if err != nil && !errors.Is(err, errBadRequest) {
			t.Errorf("%s: %v is not a 400", c.body, err)
		}
	}
	_, _, cells, _ := decodeKamailio([]byte(`{"cells":[{"htname":"r","cname":"a","type":2,"strval":"x","expire":0},{"htname":1},{},"x",{"htname":"r","cname":"b","type":0,"intval":1,"junk":true}]}`))
	usable := 0
	for _, c := range cells {
		if c.bad == "" {
			usable++
		}
	}
	if len(cells) != 5 || usable != 2 {
		t.Errorf("cells %d usable %d: %+v", len(cells), usable, cells)
	}
}

func TestExtRoundTrip(t *testing.T) {
	ids := newIDTable()
	a, _ := ids.intern("sip:10.0.0.1:5060#aa")
	b, _ := ids.intern("sip:10.0.0.2:5060#bb")
	w := newExtWriter(ids)
	st := &keyState{ver: version{t: 123 << 16, n: a}, base: ht.Int(7), exp: 1800000000, xver: version{t: 124 << 16, n: b},
		contrib: []contrib{{node: a, p: 3, n: 1}, {node: b, p: 10}}}
	w.state("c", "k\"ey", st)
	w.state("r", "gone", &keyState{ver: version{t: 5, n: b}, dead: true, xver: version{t: 5, n: b}})
	w.state("r", "s", &keyState{base: ht.Str("v\x00\n")})
	w.resetRec("r", version{t: 9, n: a})
	w.rm("n", ht.Match{Op: ht.MatchPrefix, Pattern: "p", Values: true}, version{t: 10, n: b})
	var d [nBuckets]uint64
	d[0], d[63] = 1, ^uint64(0)
	w.digest("c", version{t: 11, n: a}, &d)
	w.pull("c", 1<<63|5)
	body := w.body()
	ids2 := newIDTable() // the receiver interns the ids itself
	var recs []record
	skipped, err := decodeExt(ids2, body, func(r *record) { recs = append(recs, *r) })
	if err != nil || skipped != 0 || len(recs) != 7 {
		t.Fatalf("decode: %v skipped %d recs %d\n%s", err, skipped, len(recs), body)
	}
	got := recs[0].st
	if recs[0].key != "k\"ey" || got.base.Int() != 7 || got.exp != 1800000000 || got.ver.t != 123<<16 ||
		ids2.name(got.ver.n) != "sip:10.0.0.1:5060#aa" || ids2.name(got.xver.n) != "sip:10.0.0.2:5060#bb" || len(got.contrib) != 2 ||
		got.contrib[1].p != 10 || ids2.name(got.contrib[1].node) != "sip:10.0.0.2:5060#bb" {
		t.Errorf("state: %+v", recs[0])
	}
	if !recs[1].st.dead || recs[2].st.base.Str() != "v\x00\n" || recs[2].st.ver.isZero() == false {
		t.Errorf("tombstone/string: %+v %+v", recs[1], recs[2])
	}
	if recs[3].op != "reset" || recs[3].ver.t != 9 || recs[4].op != "rm" || recs[4].mop != "sw" || !recs[4].vals || recs[4].pat != "p" {
		t.Errorf("ops: %+v %+v", recs[3], recs[4])
	}
	if recs[5].dig != d || recs[5].floor.t != 11 || recs[6].bits != 1<<63|5 {
		t.Errorf("digest/pull: %+v %+v", recs[5], recs[6])
	}
	// hashes agree across id tables (ids compared by text)
	if ids.stateHash("k", st) != ids2.stateHash("k", &got) {
		t.Error("state hash differs between nodes")
	}
	for _, bad := range []string{`{}`, `{"sv":2,"r":[]}`, `{"sv":1,"r":{}}`, `{"sv":1,"r":[],"ids":[1]}`, `x`} {
		if _, err := decodeExt(ids2, []byte(bad), func(*record) {}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	n, err := decodeExt(ids2, []byte(`{"sv":1,"r":[{"o":"s","t":"r","k":"a","v":[1,5],"y":0,"i":1},{"o":"future"},{"o":"s","t":"r","k":"b"},7],"ids":[]}`), func(*record) {})
	if err != nil || n != 4 {
		t.Errorf("bad records: skipped %d err %v", n, err)
	}
}

// merge is commutative, associative and idempotent: any order of
// exchanges ends in the same state.
func TestMergeConverges(t *testing.T) {
	ids := newIDTable()
	a, _ := ids.intern("A")
	b, _ := ids.intern("B")
	c, _ := ids.intern("C")
	now := time.Now().Unix()
	v := func(t uint64, n uint32) version { return version{t: t, n: n} }
	states := []*keyState{
		{base: ht.Int(0), contrib: []contrib{{node: a, p: 3}}, exp: now + 100, xver: v(10, a)},
		{base: ht.Int(0), contrib: []contrib{{node: b, p: 5, n: 1}}, exp: now + 200, xver: v(11, b)},
		{base: ht.Int(0), contrib: []contrib{{node: c, p: 2}, {node: a, p: 1}}, exp: now + 150, xver: v(9, c)},
		{ver: v(20, b), dead: true, xver: v(20, b)},
		{ver: v(21, c), base: ht.Str("x"), exp: now + 50, xver: v(21, c)},
		{ver: v(20, a), base: ht.Int(100), contrib: []contrib{{node: a, p: 7}}, exp: now + 10, xver: v(22, a)},
	}
	perms := [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {2, 0, 5, 1, 4, 3}, {3, 5, 0, 4, 2, 1}}
	for _, prefix := range []int{3, 4, 6} {
		var ref uint64
		for pi, p := range perms {
			var s *keyState
			for _, i := range p {
				if i >= prefix {
					continue
				}
				s = ids.merge(s, states[i], version{}, now, true)
				s = ids.merge(s, states[i], version{}, now, true) // idempotent
			}
			h := uint64(0)
			if s != nil {
				h = ids.stateHash("k", s)
			}
			if pi == 0 {
				ref = h
			} else if h != ref {
				t.Errorf("prefix %d perm %v: state %+v differs", prefix, p, s)
			}
		}
	}
	// three concurrent first increments add up
	var s *keyState
	for _, i := range []int{0, 1, 2} {
		s = ids.merge(s, states[i], version{}, now, true)
	}
	if s.value().Int() != 3+4+2+0 || s.exp != now+200 {
		t.Errorf("counter %v exp %d: %+v", s.value(), s.exp, s)
	}
	// the newest epoch wins
	for _, i := range []int{3, 4, 5} {
		s = ids.merge(s, states[i], version{}, now, true)
	}
	if s.value().Str() != "x" {
		t.Errorf("newest set: %+v", s)
	}
	// a state older than the floor is ignored
	if got := ids.merge(nil, states[5], v(30, a), now, true); got != nil {
		t.Errorf("state under the floor adopted: %+v", got)
	}
	// an expired generation is dropped
	old := &keyState{base: ht.Int(1), exp: now - 1, xver: v(1, a)}
	if got := ids.merge(nil, old, version{}, now, true); got != nil {
		t.Errorf("expired adopted: %+v", got)
	}
}
