package sipio

import "testing"

func TestFakedMsg(t *testing.T) {
	a, b := FakedMsg(), FakedMsg()
	if a.Req == nil || a.Req.Method != "OPTIONS" || a.Req.CallID().Value() != "123" {
		t.Fatalf("faked request = %+v", a.Req)
	}
	if a.Req == b.Req || &a.Raw[0] == &b.Raw[0] {
		t.Fatal("FakedMsg must return independent copies")
	}
	if a.Source.String() != "127.0.0.1:5060" || a.Transport != UDP {
		t.Fatalf("source %v %v", a.Source, a.Transport)
	}
}
