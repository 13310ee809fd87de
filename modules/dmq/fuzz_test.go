package dmq

import (
	"strings"
	"testing"
)

func FuzzParseNodeList(f *testing.F) {
	for _, s := range []string{
		"sip:10.0.0.2:5060;status=active\r\nsip:10.0.0.1:5060;status=active\r\n",
		"sip:[::1]:5060;transport=tcp;status=pending\nsip:h:;status=timeout",
		"sip:a@b:1;x;y=z;status=disabled\r\n\r\n",
		"\x00\xff;status=\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		lines := SplitNodeList(body)
		if len(lines) > strings.Count(string(body), "\n")+1 {
			t.Fatalf("%d lines from %d newlines", len(lines), strings.Count(string(body), "\n"))
		}
		nodes, _ := ParseNodeList(body)
		for _, n := range nodes {
			// what we write for a node parses back to the same node
			line := string(n.URI.AppendNodeLine(nil, n.Status))
			again, err := ParseNodeLine(line)
			if err != nil {
				t.Fatalf("%q -> %q: %v", n.Raw, line, err)
			}
			if !again.URI.SameNode(&n.URI) || again.Status != n.Status {
				t.Fatalf("%q -> %q -> %+v", n.Raw, line, again)
			}
			if len(n.URI.Host) > maxHostLen {
				t.Fatal("host too long accepted")
			}
		}
	})
}
