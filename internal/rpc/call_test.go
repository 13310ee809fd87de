package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sipht/sipht/internal/rpc"
)

// recorder is an Encoder that renders events as text.
type recorder struct {
	b      strings.Builder
	flags  rpc.Flags
	failAt int // fail the n-th event (0: never)
	n      int
}

func (r *recorder) ev(s string) error {
	r.n++
	if r.failAt != 0 && r.n >= r.failAt {
		return errors.New("boom")
	}
	r.b.WriteString(s)
	r.b.WriteByte(' ')
	return nil
}

func (r *recorder) Begin(f rpc.Flags) error { r.flags = f; return nil }
func (r *recorder) Value(named bool, name string, v rpc.Value) error {
	if named {
		return r.ev(fmt.Sprintf("%s=%s", name, v.Text()))
	}
	return r.ev(v.Text())
}
func (r *recorder) Open(named bool, name string, array bool) error {
	s := "{"
	if array {
		s = "["
	}
	if named {
		s = name + "=" + s
	}
	return r.ev(s)
}
func (r *recorder) Close() error { return r.ev("}") }

func call(t *testing.T, reg *rpc.Registry, method string, dialect rpc.Dialect, params ...rpc.Value) (string, rpc.Result) {
	t.Helper()
	rec := &recorder{}
	res := reg.Serve(context.Background(), &rpc.Request{Method: method, Params: params, Dialect: dialect}, rec)
	return strings.TrimSpace(rec.b.String()), res
}

func TestStreamingOrder(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "t.tree", Handler: func(c *rpc.Call) {
		s := c.AddStruct().Int("a", 1)
		arr := s.Array("list")
		arr.Str("x")
		arr.Struct().Str("k", "v") // anonymous struct in array
		arr.Str("y")               // closes the inner struct
		arr.Members().Int("named", 2)
		s.Str("after", "z") // closes the array
		c.AddInt(7)         // closes the struct
	}})
	got, res := call(t, reg, "t.tree", rpc.DialectBINRPC)
	want := "{ a=1 list=[ x { k=v } y named=2 } after=z } 7"
	if got != want || res.Fault != nil || res.Err != nil || res.Values != 2 {
		t.Fatalf("got %q %+v", got, res)
	}
}

func TestOutOfOrderWrite(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "t.bad", Handler: func(c *rpc.Call) {
		a := c.AddStruct()
		b := c.AddStruct() // closes a
		a.Int("late", 1)   // a is closed: misuse
		b.Int("x", 2)
		if !errors.Is(c.Err(), rpc.ErrOutOfOrder) {
			t.Errorf("Err() = %v", c.Err())
		}
	}})
	_, res := call(t, reg, "t.bad", rpc.DialectBINRPC)
	if res.Fault == nil || res.Fault.Code != 500 || !errors.Is(res.Err, rpc.ErrOutOfOrder) {
		t.Fatalf("%+v", res)
	}
}

func TestFaultWins(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "t.f", Handler: func(c *rpc.Call) {
		c.AddStr("discarded")
		c.Fault(404, "first %s", "fault")
		c.Fault(500, "second")
		c.AddStr("ignored")
		if !c.Faulted() || c.Err() == nil {
			t.Error("not faulted")
		}
	}})
	got, res := call(t, reg, "t.f", rpc.DialectBINRPC)
	if res.Fault == nil || *res.Fault != (rpc.Fault{Code: 404, Message: "first fault"}) || got != "discarded" {
		t.Fatalf("%q %+v", got, res.Fault)
	}
}

func TestPanicBecomesFault(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "t.p", Handler: func(c *rpc.Call) { panic("oops") }})
	_, res := call(t, reg, "t.p", rpc.DialectJSON)
	if res.Fault == nil || res.Fault.Code != 500 || res.Err == nil {
		t.Fatalf("%+v", res)
	}
}

func TestEncoderErrorStops(t *testing.T) {
	reg := rpc.NewRegistry()
	n := 0
	reg.MustRegister(rpc.Method{Name: "t.e", Handler: func(c *rpc.Call) {
		for i := 0; i < 100 && c.Err() == nil; i++ {
			c.AddInt(i)
			n++
		}
	}})
	rec := &recorder{failAt: 3}
	res := reg.Serve(context.Background(), &rpc.Request{Method: "t.e"}, rec)
	if res.Err == nil || n != 3 {
		t.Fatalf("n=%d %+v", n, res)
	}
}

func TestNotFoundAndObserver(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "t.ok", Handler: func(c *rpc.Call) { c.AddStr("x") }},
		rpc.Method{Name: "t.fault", Handler: func(c *rpc.Call) { c.Fault(404, "nope") }})
	var mu sync.Mutex
	var seen []string
	reg.SetObserver(func(ci rpc.CallInfo) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s/%s/%s/%d", ci.Method, ci.Transport, ci.Outcome, ci.FaultCode))
		mu.Unlock()
	})
	rec := &recorder{}
	for _, m := range []string{"t.ok", "t.fault", "t.missing"} {
		res := reg.Serve(context.Background(), &rpc.Request{Method: m, Transport: "test"}, rec)
		if (m == "t.missing") != res.NotFound {
			t.Errorf("%s: NotFound=%v", m, res.NotFound)
		}
	}
	want := "t.ok/test/ok/0 t.fault/test/fault/404 t.missing/test/not_found/0"
	if got := strings.Join(seen, " "); got != want {
		t.Fatalf("observer saw %q", got)
	}
}

func TestRegister(t *testing.T) {
	reg := rpc.NewRegistry()
	h := func(*rpc.Call) {}
	if err := reg.Register(rpc.Method{Name: "a", Handler: h}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []rpc.Method{
		{Name: "a", Handler: h},
		{Name: "", Handler: h},
		{Name: "b"},
		{Name: "c", Handler: h, Params: "Sx"},
	} {
		if err := reg.Register(m); err == nil {
			t.Errorf("%+v registered", m)
		}
	}
	if err := reg.Register(rpc.Method{Name: "z", Handler: h}, rpc.Method{Name: "z", Handler: h}); err == nil {
		t.Error("duplicate in one call registered")
	}
	if _, ok := reg.Lookup("z"); ok {
		t.Error("partial registration")
	}
	reg.MustRegister(rpc.Method{Name: "B", Handler: h}, rpc.Method{Name: "_", Handler: h})
	if got := strings.Join(reg.Names(), ","); got != "B,_,a" {
		t.Errorf("Names() = %s", got)
	}
}

// scanCase runs Method.Params or Scan on params.
type scanCase struct {
	format  string
	dialect rpc.Dialect
	auto    bool
	params  []rpc.Value
	want    string // scanned values, or the fault
}

func TestScanRules(t *testing.T) {
	S, I, D := rpc.Str, rpc.Int, rpc.Double
	js := func(lit string, f float64) rpc.Value { return rpc.Value{Kind: rpc.KindDouble, F: f, S: lit} }
	B, J := rpc.DialectBINRPC, rpc.DialectJSON
	cases := []scanCase{
		// BINRPC strict types
		{"SS", B, false, []rpc.Value{S("t"), S("k")}, "t k"},
		{"SS", B, false, []rpc.Value{S("t"), I(15)}, "400 error at parameter 1: expected string type but record doesn't match type"},
		{"SS", B, false, []rpc.Value{S("t")}, "400 error at parameter 1: expected string type but end of packet encountered"},
		{"d", B, false, []rpc.Value{S("a")}, "400 error at parameter 0: expected integer type but record doesn't match type"},
		{"d", B, false, []rpc.Value{D(2.5)}, "400 error at parameter 0: expected integer type but record doesn't match type"},
		// auto-conversion
		{"S.S", B, false, []rpc.Value{S("t"), I(123)}, "t 123"},
		{".d", B, false, []rpc.Value{S("12")}, "12"},
		{".d", B, false, []rpc.Value{D(2.9)}, "2"},
		{".d", B, false, []rpc.Value{S("x")}, "400 error at parameter 0: expected string type but record doesn't match type"},
		{"S.S", B, false, []rpc.Value{S("t")}, "400 error at parameter 1: expected any type but end of packet encountered"},
		{".S", B, false, []rpc.Value{D(2.5)}, "2.5"},    // lenient: Kamailio fails ("bug -- internal error")
		{"SS", B, true, []rpc.Value{I(1), I(2)}, "1 2"}, // ctl autoconversion=1
		// f/l take DOUBLE or INT
		{"f", B, false, []rpc.Value{I(3)}, "3"},
		{"l", B, false, []rpc.Value{D(4.7)}, "4"},
		{"f", B, false, []rpc.Value{S("1")}, "400 error at parameter 0: expected float type but record doesn't match type"},
		{".f", B, false, []rpc.Value{S("1.5xyz")}, "1.5"},
		// optional
		{"S*S", B, false, []rpc.Value{S("a")}, "a"},
		{"*S", B, false, nil, ""},
		{"*S", B, false, []rpc.Value{I(1)}, "400 error at parameter 0: expected string type but record doesn't match type"},
		// JSON
		{"SS", J, false, []rpc.Value{S("t"), js("15", 15)}, "400 error at parameter 1: expected string type but record doesn't match type"},
		{"S.S", J, false, []rpc.Value{S("t"), js("15", 15)}, "t 15"},
		{"S.S", J, false, []rpc.Value{S("t"), js("-5", -5)}, "t -5"},
		{"S.S", J, false, []rpc.Value{S("t"), js("2.50", 2.5)}, "t 2.5"},
		{"d", J, false, []rpc.Value{js("7.9", 7.9)}, "7"},
		{"d", J, false, []rpc.Value{rpc.Bool(true)}, "1"},
		{"d", J, false, []rpc.Value{S("12")}, "12"}, // lenient: Kamailio reads 0
		{"d", J, false, []rpc.Value{S("abc")}, "400 error at parameter 0: expected integer type but record doesn't match type"},
		{"d", J, false, []rpc.Value{js("1e10", 1e10)}, "400 error at parameter 0: expected integer type but value out of range"},
		{"f", J, false, []rpc.Value{js("1e10", 1e10)}, "10000000000"},
	}
	for i, tc := range cases {
		reg := rpc.NewRegistry()
		var got string
		reg.MustRegister(rpc.Method{Name: "m", Params: tc.format, Handler: func(c *rpc.Call) {
			var parts []string
			for j := 0; j < c.NArgs(); j++ {
				parts = append(parts, c.Arg(j).Text())
			}
			got = strings.Join(parts, " ")
		}})
		res := reg.Serve(context.Background(), &rpc.Request{Method: "m", Params: tc.params, Dialect: tc.dialect, AutoConvert: tc.auto}, &recorder{})
		if res.Fault != nil {
			got = fmt.Sprintf("%d %s", res.Fault.Code, res.Fault.Message)
		}
		if got != tc.want {
			t.Errorf("case %d %q %v: got %q want %q", i, tc.format, tc.params, got, tc.want)
		}
	}
}

func TestScanByHand(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "m", Handler: func(c *rpc.Call) {
		var s string
		var i int
		var f float64
		n, err := c.Scan("Sd", &s, &i)
		if n != 2 || err != nil || s != "a" || i != 5 {
			t.Errorf("Sd: %d %v %q %d", n, err, s, i)
		}
		n, err = c.Scan("*f", &f)
		if n != 1 || err != nil || f != 1.5 {
			t.Errorf("*f: %d %v %v", n, err, f)
		}
		n, err = c.Scan("*S", &s)
		if n != 0 || err != nil {
			t.Errorf("*S at end: %d %v", n, err)
		}
		if _, err := c.Scan("S", &i); err == nil {
			t.Error("string into *int accepted")
		}
		if _, err := c.Scan("q", &i); err == nil {
			t.Error("bad format accepted")
		}
	}})
	_, res := call(t, reg, "m", rpc.DialectBINRPC, rpc.Str("a"), rpc.Int(5), rpc.Double(1.5))
	if res.Fault != nil {
		t.Fatal(res.Fault)
	}
}

// TestPreparedFault: a failed scan is sent only when the handler wrote
// nothing (Kamailio's rpc_fault_prepare).
func TestPreparedFault(t *testing.T) {
	reg := rpc.NewRegistry()
	if err := rpc.RegisterCore(reg, rpc.CoreInfo{}); err != nil {
		t.Fatal(err)
	}
	got, res := call(t, reg, "core.printi", rpc.DialectBINRPC, rpc.Str("a"))
	if res.Fault == nil || res.Fault.Message != "error at parameter 0: expected integer type but record doesn't match type" {
		t.Fatalf("%q %+v", got, res.Fault)
	}
	got, res = call(t, reg, "core.printi", rpc.DialectBINRPC, rpc.Int(1), rpc.Str("a"))
	if res.Fault != nil || got != "1" {
		t.Fatalf("%q %+v", got, res.Fault)
	}
	got, _ = call(t, reg, "core.echo", rpc.DialectBINRPC, rpc.Str("a"), rpc.Int(1), rpc.Int(-5), rpc.Double(2.5))
	if got != "a 1 -5 2.5" {
		t.Fatalf("echo: %q", got)
	}
}

func TestParamErr(t *testing.T) {
	reg := rpc.NewRegistry()
	reg.MustRegister(rpc.Method{Name: "m", Params: "SS", Handler: func(c *rpc.Call) {}})
	res := reg.Serve(context.Background(), &rpc.Request{Method: "m", Params: []rpc.Value{rpc.Str("a")}, ParamErr: errors.New("bad record")}, &recorder{})
	if res.Fault == nil || res.Fault.Message != "error at parameter 1: expected string type but bad record" {
		t.Fatalf("%+v", res.Fault)
	}
}

func TestCoreMethods(t *testing.T) {
	reg := rpc.NewRegistry()
	if err := rpc.RegisterCore(reg, rpc.CoreInfo{Name: "sipht", Version: "1.2.3", Modules: func() []string { return []string{"htable"} }}); err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"core.version":           "sipht 1.2.3 (",
		"system.methodHelp":      "400 Method Name Expected",
		"core.modules":           "htable",
		"core.psx":               "{ IDX=0 PID=",
		"core.uptime":            "{ now=",
		"core.shmmem":            "{ total=",
		"core.info":              "{ version=sipht 1.2.3",
		"system.listMethods":     "core.arg core.echo core.flags",
		"core.pwd":               "/",
		"system.methodSignature": "400 Method Name Expected",
	}
	for m, want := range checks {
		got, res := call(t, reg, m, rpc.DialectBINRPC)
		if res.Fault != nil {
			got = fmt.Sprintf("%d %s", res.Fault.Code, res.Fault.Message)
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q", m, got)
		}
	}
	got, _ := call(t, reg, "system.methodSignature", rpc.DialectBINRPC, rpc.Str("core.echo"))
	if got != "[ array } " && got != "[ array }" {
		t.Errorf("signature: %q", got)
	}
	got, res := call(t, reg, "system.methodHelp", rpc.DialectBINRPC, rpc.Str("nosuch"))
	if res.Fault == nil || res.Fault.Message != "command not found" {
		t.Errorf("help nosuch: %q %+v", got, res.Fault)
	}
	if _, res := call(t, reg, "core.shmmem", rpc.DialectBINRPC, rpc.Str("x")); res.Fault == nil {
		t.Error("shmmem bad unit accepted")
	}
}
