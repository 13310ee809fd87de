package dmqrepl

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// kdmqRequest sends one KDMQ request from conn to addr and returns the
// status line of the reply ("" when none came).
func kdmqRequest(t *testing.T, conn *net.UDPConn, addr, channel, body string) string {
	t.Helper()
	local := conn.LocalAddr().String()
	id := time.Now().UnixNano()
	msg := fmt.Sprintf("KDMQ sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bad%d\r\nTo: <sip:%s@%s>\r\nFrom: <sip:%s@%s>;tag=x\r\nCSeq: 10 KDMQ\r\nCall-ID: bad-%d\r\nMax-Forwards: 1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		channel, addr, local, id, channel, addr, channel, local, id, len(body), body)
	ua, _ := net.ResolveUDPAddr("udp", addr)
	if _, err := conn.WriteToUDP([]byte(msg), ua); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		r := string(buf[:n])
		if strings.HasPrefix(r, "SIP/2.0 ") && strings.Contains(r, fmt.Sprintf("bad-%d", id)) {
			return r[:strings.Index(r, "\r\n")]
		}
	}
	return ""
}

// Malformed bodies, unknown tables and actions, big payloads and
// unknown channels get Kamailio's answers and are counted; the node goes on.
func TestBadInputReplies(t *testing.T) {
	n := startNode(t, "127.0.0.71", nil, Options{})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 72)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := n.node.Addr()
	bigCells := `{"cells":[` + strings.Repeat(`{"htname":"r","cname":"k","type":0,"intval":1,"expire":0},`, 1000) + `{}]}`
	cases := []struct {
		name, channel, body, want string
	}{
		{"valid set", "htable", `{"action":2,"htname":"r","cname":"ok","type":2,"strval":"v","mode":1}`, "SIP/2.0 200 OK"},
		{"invalid JSON", "htable", `{"action":2,`, "SIP/2.0 400 Bad Request"},
		{"not an object", "htable", `[1]`, "SIP/2.0 400 Bad Request"},
		{"empty object", "htable", `{}`, "SIP/2.0 400 Bad Request"},
		{"unknown field", "htable", `{"action":2,"htname":"r","cname":"a","type":2,"strval":"v","mode":1,"last_modified":5}`, "SIP/2.0 400 Bad Request"},
		{"number as table name", "htable", `{"action":2,"htname":5,"cname":"a","type":2,"strval":"v"}`, "SIP/2.0 400 Bad Request"},
		{"no body", "htable", ``, "SIP/2.0 400 Bad Request"},
		{"unknown table", "htable", `{"action":2,"htname":"nope","cname":"a","type":2,"strval":"v","mode":1}`, "SIP/2.0 500 Server Internal Error"},
		{"unknown action", "htable", `{"action":7,"htname":"r","cname":"a"}`, "SIP/2.0 500 Server Internal Error"},
		{"action 0", "htable", `{"action":0,"htname":"r","cname":"a"}`, "SIP/2.0 500 Server Internal Error"},
		{"bad regex", "htable", `{"action":5,"htname":"r","type":2,"strval":"(","mode":0}`, "SIP/2.0 500 Server Internal Error"},
		{"bulk with bad cells", "htable", `{"cells":[{"htname":"r","cname":"c1","type":2,"strval":"x","expire":0},{"htname":"nope","cname":"c2","type":0,"intval":1,"expire":0},{"cname":"c3"}]}`, "SIP/2.0 200 OK"},
		{"big bulk", "htable", bigCells, "SIP/2.0 200 OK"},
		{"extension garbage", ExtChannel, `{"sv":1,"r":`, "SIP/2.0 400 Bad Request"},
		{"extension unknown table", ExtChannel, `{"sv":1,"r":[{"o":"s","t":"nope","k":"a","y":0,"i":1}],"ids":[]}`, "SIP/2.0 200 OK"},
		{"unknown channel", "dialog", `{}`, "SIP/2.0 404 User Not Found"},
	}
	for _, c := range cases {
		if got := kdmqRequest(t, conn, addr, c.channel, c.body); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	st := n.rep.Stats()
	if st.KamBad.Load() != 6 || st.KamUnknownTable.Load() != 1 || st.KamApplyFailed.Load() != 3 || st.ExtBad.Load() != 1 {
		t.Errorf("counters: bad %d unknown table %d apply failed %d ext bad %d",
			st.KamBad.Load(), st.KamUnknownTable.Load(), st.KamApplyFailed.Load(), st.ExtBad.Load())
	}
	if st.CellsApplied.Load() != 1001 || st.CellsSkipped.Load() != 3 {
		t.Errorf("cells applied %d skipped %d", st.CellsApplied.Load(), st.CellsSkipped.Load())
	}
	if get(n, "r", "ok") != "v" || get(n, "r", "c1") != "x" {
		t.Error("valid parts not applied")
	}
	counts := n.node.DMQ().Counts()
	if counts["recv/htable/400"] != 6 || counts["recv/htable/500"] != 4 || counts["recv/<unknown>/404"] != 1 {
		t.Errorf("dmq counters %v", counts)
	}
}
