package dmq

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/sipio"
)

func TestSplitNodeListQuirk(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []string
	}{
		{"crlf lines", "sip:10.0.0.2:5060;status=active\r\nsip:10.0.0.1:5060;status=active\r\n",
			[]string{"sip:10.0.0.2:5060;status=active", "sip:10.0.0.1:5060;status=active"}},
		{"lf lines", "sip:a:1;status=active\nsip:b:2;status=pending\n",
			[]string{"sip:a:1;status=active", "sip:b:2;status=pending"}},
		// Kamailio drops the last character of every line: for a final
		// line without a newline that is a real character
		{"last line without newline loses a char", "sip:a:1;status=active\r\nsip:b:2;status=active",
			[]string{"sip:a:1;status=active", "sip:b:2;status=activ"}},
		{"single line without newline", "sip:10.0.0.1:5060", []string{"sip:10.0.0.1:506"}},
		{"trailing spaces and CRs trimmed", "sip:a:1;status=active \t\r\r\n", []string{"sip:a:1;status=active"}},
		{"blank lines kept", "\r\n\nsip:a:1\n", []string{"", "", "sip:a:1"}},
		{"empty", "", nil},
		{"one char", "x", []string{""}},
	}
	for _, c := range cases {
		got := SplitNodeList([]byte(c.body))
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseNodeList(t *testing.T) {
	body := "sip:10.0.0.2:5060;status=active\r\n" +
		"sip:10.0.0.3:5070;transport=tcp;status=disabled\r\n" +
		"sip:10.0.0.4:5060\r\n" + // no status: pending
		"sip:[2001:db8::1]:5060;status=timeout\r\n" +
		"sip:node.example.com:;status=pending\r\n" + // Kamailio writes an empty port so
		"sip:10.0.0.5:5060;status=sleeping\r\n" + // bad status: skipped (Kamailio aborts)
		"garbage\r\n" +
		"sip:10.0.0.6:99999;status=active\r\n" +
		"\r\n"
	lines, errs := ParseNodeList([]byte(body))
	if len(errs) != 3 {
		t.Errorf("errors %v, want 3", errs)
	}
	type want struct {
		host, port string
		proto      sipio.Transport
		st         Status
		params     bool
	}
	ws := []want{
		{"10.0.0.2", "5060", sipio.UDP, StatusActive, true},
		{"10.0.0.3", "5070", sipio.TCP, StatusDisabled, true},
		{"10.0.0.4", "5060", sipio.UDP, StatusPending, false},
		{"[2001:db8::1]", "5060", sipio.UDP, StatusTimeout, true},
		{"node.example.com", "", sipio.UDP, StatusPending, true},
	}
	if len(lines) != len(ws) {
		t.Fatalf("got %d lines: %+v", len(lines), lines)
	}
	for i, w := range ws {
		l := lines[i]
		if l.URI.Host != w.host || l.URI.Port != w.port || l.URI.Proto != w.proto || l.Status != w.st || l.HasParams != w.params {
			t.Errorf("line %d: %+v, want %+v", i, l, w)
		}
	}
	// round trip: what we write parses back to the same nodes
	var b []byte
	for _, l := range lines {
		b = l.URI.AppendNodeLine(b, l.Status)
		b = append(b, '\r', '\n')
	}
	again, errs := ParseNodeList(b)
	if len(errs) != 0 || len(again) != len(lines) {
		t.Fatalf("round trip: %v %v", again, errs)
	}
	for i := range again {
		if !again[i].URI.SameNode(&lines[i].URI) || again[i].Status != lines[i].Status {
			t.Errorf("round trip %d: %+v != %+v", i, again[i], lines[i])
		}
	}
	if got := string(lines[1].URI.AppendNodeLine(nil, StatusActive)); got != "sip:10.0.0.3:5070;transport=tcp;status=active" {
		t.Errorf("node line %q", got)
	}
	if got := string(lines[4].URI.AppendNodeLine(nil, StatusPending)); got != "sip:node.example.com:;status=pending" {
		t.Errorf("empty port line %q", got)
	}
}

func TestParseURI(t *testing.T) {
	good := map[string]string{
		"sip:10.0.0.1:5060":                         "sip:10.0.0.1:5060",
		"SIP:10.0.0.1:5060;transport=TCP":           "sip:10.0.0.1:5060;transport=tcp",
		"sip:notification_peer@10.0.0.1:5060":       "sip:10.0.0.1:5060",
		"sip:10.0.0.1":                              "sip:10.0.0.1",
		"sip:[::1]:5062;status=active":              "sip:[::1]:5062",
		"sip:10.0.0.1:5060;transport=udp;lr":        "sip:10.0.0.1:5060",
		"sips:host-name.example:5061;transport=tls": "sip:host-name.example:5061;transport=tls",
	}
	for in, want := range good {
		u, err := ParseURI(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if u.String() != want {
			t.Errorf("%s -> %s, want %s", in, u.String(), want)
		}
	}
	for _, bad := range []string{"", "10.0.0.1:5060", "http://x", "sip:", "sip:10.0.0.1:abc", "sip:10.0.0.1:70000",
		"sip:a b", "sip:x?h=1", "sip:[::1", "sip:[zz]:1", "sip:@host", "sip:10.0.0.1:5060;transport=foo",
		"sip:ho$t", "sip:" + strings.Repeat("a", 300), "sip:h:1\x00"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	a, _ := ParseURI("sip:10.0.0.1:5060")
	b, _ := ParseURI("sip:10.0.0.1:5060;transport=udp")
	c, _ := ParseURI("sip:10.0.0.1")
	d, _ := ParseURI("sip:10.0.0.1:5060;transport=tcp")
	if !a.SameNode(&b) || a.SameNode(&c) || a.SameNode(&d) {
		t.Error("node identity: port text and transport must count, udp = none")
	}
}

// statusList builds a node list with self and the given nodes.
func statusList(t *testing.T, nodes ...*Node) *nodeList {
	l := &nodeList{}
	u, _ := ParseURI("sip:10.0.0.1:5060")
	l.self = &Node{uri: u, status: StatusActive, local: true}
	l.addLocked(l.self)
	for _, n := range nodes {
		l.addLocked(n)
	}
	return l
}

func mkNode(t *testing.T, uri string, st Status, notify bool) *Node {
	u, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return &Node{uri: u, orig: uri, status: st, notify: notify, ip: netip.MustParseAddr(strings.Split(strings.TrimPrefix(uri, "sip:"), ":")[0])}
}

func TestStatusTransitions(t *testing.T) {
	clock := time.Unix(1000, 0)
	b := mkNode(t, "sip:10.0.0.2:5060", StatusPending, false)
	n := mkNode(t, "sip:10.0.0.9:5060", StatusPending, true) // a notification_address
	l := statusList(t, b, n)
	step := func(node *Node, code int, want Status, wantOut replyOutcome) {
		t.Helper()
		clock = clock.Add(time.Second)
		got := l.notifyReplyLocked(node, code, clock)
		if got != wantOut || (!node.removed && node.status != want) {
			t.Fatalf("%s after %d: status %s outcome %d, want %s %d", node.orig, code, node.status, got, want, wantOut)
		}
	}
	step(b, 200, StatusActive, outcomeActivated)
	if !b.lastSeen.Equal(clock) {
		t.Error("lastSeen not set by the 200")
	}
	step(b, 200, StatusActive, outcomeNone)
	step(b, 404, StatusActive, outcomeNone) // other codes change nothing
	step(b, 500, StatusActive, outcomeNone)
	step(b, 408, StatusDisabled, outcomeDisabled)
	step(b, 200, StatusActive, outcomeActivated) // a disabled node that answers is back
	step(b, 408, StatusDisabled, outcomeDisabled)
	step(b, 408, StatusDisabled, outcomeDeleted) // second timeout: gone
	if l.findLocked(&b.uri) != nil || !b.removed {
		t.Fatal("node not deleted")
	}
	step(b, 200, StatusDisabled, outcomeNone) // a late reply for a deleted node does nothing

	// notification addresses are never deleted: a timeout makes them pending
	step(n, 200, StatusActive, outcomeActivated)
	step(n, 408, StatusPending, outcomePending)
	step(n, 408, StatusPending, outcomePending)
	if l.findLocked(&n.uri) == nil {
		t.Fatal("notification node deleted")
	}
	// the local node never changes
	step(l.self, 408, StatusActive, outcomeNone)
}

func TestMergeRules(t *testing.T) {
	resolve := func(u *URI) (netip.Addr, bool) {
		a, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
		return a, err == nil
	}
	known := mkNode(t, "sip:10.0.0.2:5060", StatusActive, false)
	dis := mkNode(t, "sip:10.0.0.3:5060", StatusDisabled, false)
	sender := mkNode(t, "sip:10.0.0.4:5060", StatusDisabled, false)
	l := statusList(t, known, dis, sender)
	lines, _ := ParseNodeList([]byte(
		"sip:10.0.0.1:5060;status=disabled\r\n" + // ourselves: never changed
			"sip:10.0.0.2:5060;status=timeout\r\n" + // known: takes the status
			"sip:10.0.0.3:5060;status=active\r\n" + // locally disabled: kept (Kamailio)
			"sip:10.0.0.4:5060;status=active\r\n" + // the sender itself: active (sipht)
			"sip:10.0.0.5:5060;status=active\r\n" + // new: added active
			"sip:10.0.0.6:5060\r\n" + // new without status: pending
			"sip:host.invalid:5060;status=active\r\n")) // unresolvable: skipped
	r := l.mergeLocked(lines, sender, resolve)
	if l.self.status != StatusActive || known.status != StatusTimeout || dis.status != StatusDisabled || sender.status != StatusActive {
		t.Errorf("statuses: self %s known %s dis %s sender %s", l.self.status, known.status, dis.status, sender.status)
	}
	if len(r.added) != 2 || r.changed != 4 || len(r.activated) != 1 {
		t.Errorf("result %+v", r)
	}
	n5, _ := ParseURI("sip:10.0.0.5:5060")
	n6, _ := ParseURI("sip:10.0.0.6:5060")
	if l.findLocked(&n5).status != StatusActive || l.findLocked(&n6).status != StatusPending {
		t.Error("new nodes' statuses")
	}
	// the body lists self and active nodes only, newest first
	body := string(l.appendBody(nil))
	want := "sip:10.0.0.5:5060;status=active\r\nsip:10.0.0.4:5060;status=active\r\nsip:10.0.0.1:5060;status=active\r\n"
	if body != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
	// a line without parameters does not change a known node
	lines, _ = ParseNodeList([]byte("sip:10.0.0.2:5060\r\n"))
	l.mergeLocked(lines, nil, resolve)
	if known.status != StatusTimeout {
		t.Errorf("paramless line changed the status to %s", known.status)
	}
}

func TestHeaderValue(t *testing.T) {
	ok, inc, tcp := parseHeader("1;inc=abc123;tcp=1")
	if !ok || inc != "abc123" || !tcp {
		t.Error(ok, inc, tcp)
	}
	for _, bad := range []string{"", "x", "0;inc=a", ";inc=a"} {
		if ok, _, _ := parseHeader(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if ok, inc, _ := parseHeader("2;inc=" + strings.Repeat("a", 100)); !ok || inc != "" {
		t.Error("long incarnation not dropped")
	}
}
