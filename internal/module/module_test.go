package module

import (
	"strings"
	"testing"
)

type fakeModule struct{ got []Value }

func (f *fakeModule) Params() []Param {
	return []Param{
		{Name: "b", Kind: ParamInt, Set: func(v Value) error { f.got = append(f.got, v); return nil }},
		{Name: "a", Kind: ParamStr, Multi: true, Set: func(v Value) error { f.got = append(f.got, v); return nil }},
	}
}

func TestRegistry(t *testing.T) {
	Register(Info{Name: "fake_for_test", New: func() Module { return &fakeModule{} }})
	info, ok := Lookup("fake_for_test")
	if !ok {
		t.Fatal("registered module not found")
	}
	found := false
	for _, n := range Names() {
		found = found || n == "fake_for_test"
	}
	if !found {
		t.Fatal("Names does not list the module")
	}
	m := info.New()
	if got := strings.Join(ParamNames(m), ","); got != "a,b" {
		t.Fatalf("ParamNames = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice must panic")
		}
	}()
	Register(info)
}

func TestCoerce(t *testing.T) {
	cases := []struct {
		kind    ParamKind
		in      Value
		want    Value
		wantErr bool
	}{
		{ParamStr, Value{Str: "x"}, Value{Str: "x"}, false},
		{ParamStr, Value{IsInt: true, Int: 3}, Value{}, true},
		{ParamInt, Value{IsInt: true, Int: 3}, Value{IsInt: true, Int: 3}, false},
		{ParamInt, Value{Str: "42"}, Value{IsInt: true, Int: 42}, false},
		{ParamInt, Value{Str: "x"}, Value{}, true},
		{ParamAny, Value{Str: "x"}, Value{Str: "x"}, false},
	}
	for _, c := range cases {
		got, err := Param{Name: "p", Kind: c.kind}.Coerce(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("%v %v: err = %v", c.kind, c.in, err)
			continue
		}
		if err == nil && got != c.want {
			t.Errorf("%v %v: got %v want %v", c.kind, c.in, got, c.want)
		}
	}
}
