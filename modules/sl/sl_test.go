package sl_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/all"
)

const cfg = `
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "corex.so"
request_route {
	xlog("L_ERR", "script saw $rm $rU\n");
	if (is_method("ACK")) { exit; }
	if ($rU == "redirect") {
		append_branch("sip:b1@10.0.0.1");
		append_branch("sip:b2@10.0.0.2", "0.5");
		sl_send_reply("302", "Moved");
		exit;
	}
	if ($rU == "plain302") { sl_send_reply("302", "Moved"); exit; }
	if ($rU == "new302") { $rU = "new"; sl_send_reply("302", "Moved"); exit; }
	if ($rU == "extra") {
		append_to_reply("X-Reason: testing\r\n");
		sl_send_reply("403", "Forbidden $rU");
		exit;
	}
	if ($rU == "err") { sl_reply_error(); exit; }
	sl_send_reply("404", "Not Here");
}
event_route[sl:filtered-ack] {
	xlog("L_ERR", "filtered ACK $ci\n");
}
`

func ack(to string) string {
	return "ACK sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-ack\r\nFrom: <sip:alice@example.com>;tag=f1\r\n" +
		"To: " + to + "\r\nCall-ID: ack-1@test\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

// ACKs to sl's own replies never reach the script (Kamailio's
// sl_filter_ACK); other ACKs do.
func TestACKFilter(t *testing.T) {
	r := servertest.Start(t, cfg)
	c := servertest.Dial(t, r.UDP)
	rep := c.Do(t, servertest.Request("INVITE", "sip:nobody@127.0.0.1", nil, ""))
	if servertest.Status(rep) != 404 {
		t.Fatalf("reply %q", rep)
	}
	to := servertest.Header(rep, "To")
	if !strings.Contains(to, ";tag=") {
		t.Fatalf("no To-tag in %q", to)
	}
	c.Send(t, ack(to))
	c.Send(t, ack("<sip:x@127.0.0.1>;tag=not-ours"))
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(r.Logs.String(), "script saw ACK") {
		time.Sleep(20 * time.Millisecond)
	}
	logs := r.Logs.String()
	if n := strings.Count(logs, "script saw ACK"); n != 1 {
		t.Errorf("the script saw %d ACKs, want 1 (only the one with a foreign tag):\n%s", n, logs)
	}
	if !strings.Contains(logs, "filtered ACK ack-1@test") {
		t.Errorf("event_route[sl:filtered-ack] did not run:\n%s", logs)
	}
}

func TestReplies(t *testing.T) {
	r := servertest.Start(t, cfg)
	c := servertest.Dial(t, r.UDP)
	rep := c.Do(t, servertest.Request("INVITE", "sip:redirect@127.0.0.1", nil, ""))
	if servertest.Status(rep) != 302 || servertest.Header(rep, "Contact") != "<sip:b1@10.0.0.1>, <sip:b2@10.0.0.2>;q=0.5" {
		t.Errorf("302: %q", rep)
	}
	// as Kamailio 5.6.3: no Contact without branches; the R-URI is listed
	// once the script changed it
	rep = c.Do(t, servertest.Request("INVITE", "sip:plain302@127.0.0.1", nil, ""))
	if servertest.Status(rep) != 302 || servertest.Header(rep, "Contact") != "" {
		t.Errorf("plain 302: %q", rep)
	}
	rep = c.Do(t, servertest.Request("INVITE", "sip:new302@127.0.0.1", nil, ""))
	if servertest.Header(rep, "Contact") != "<sip:new@127.0.0.1>" {
		t.Errorf("302 after a rewrite: %q", rep)
	}
	rep = c.Do(t, servertest.Request("OPTIONS", "sip:extra@127.0.0.1", nil, ""))
	if !strings.HasPrefix(rep, "SIP/2.0 403 Forbidden extra\r\n") || servertest.Header(rep, "X-Reason") != "testing" {
		t.Errorf("append_to_reply: %q", rep)
	}
	rep = c.Do(t, servertest.Request("OPTIONS", "sip:err@127.0.0.1", nil, ""))
	if !strings.HasPrefix(rep, "SIP/2.0 500 I'm terribly sorry, server error occurred (1/SL)\r\n") {
		t.Errorf("sl_reply_error: %q", rep)
	}
}

// Bad constant codes are config errors; Kamailio sends any 3-digit text.
func TestBadCode(t *testing.T) {
	for _, code := range []string{`"700"`, `"99"`, `99`} {
		src := "listen=udp:127.0.0.1:0\nloadmodule \"sl.so\"\nrequest_route { sl_send_reply(" + code + ", \"x\"); }\n"
		_, err := server.Load(server.Options{Source: []byte(src), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "invalid reply code") {
			t.Errorf("%s: err = %v", code, err)
		}
	}
}
