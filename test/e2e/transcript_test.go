package e2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "re-record the goldens in testdata/ from Kamailio (TestSeedKamailioOracle)")

// transcript is the normalised record of what a server did in one test
// case: for every step the SIP messages seen by sipp, the script's log lines,
// kamcmd and HTTP output. Values that differ between runs (ports chosen at
// run time, tags, branches, nonces, Call-IDs) are replaced by <names>.
type transcript struct {
	b     strings.Builder
	ports map[int]string // port number -> "<name>"
}

func newTranscript() *transcript { return &transcript{ports: map[int]string{}} }

// namePort makes port print as <name>.
func (tr *transcript) namePort(port int, name string) { tr.ports[port] = "<" + name + ">" }

func (tr *transcript) line(format string, args ...any) {
	fmt.Fprintf(&tr.b, format, args...)
	tr.b.WriteByte('\n')
}

func (tr *transcript) String() string { return tr.b.String() }

var (
	portRE   = regexp.MustCompile(`([:=])([0-9]{2,5})\b`)
	branchRE = regexp.MustCompile(`branch=[^;,\s>]+`)
	tagRE    = regexp.MustCompile(`tag=[^;,\s>]+`)
	nonceRE  = regexp.MustCompile(`nonce="[^"]*"`)
	opaqueRE = regexp.MustCompile(`opaque="[^"]*"`)
	// local date and time, as htable.get prints an item's expiry
	timeRE = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}`)
)

// norm replaces the run-specific parts of a header value.
func (tr *transcript) norm(s string) string {
	s = branchRE.ReplaceAllString(s, "branch=<branch>")
	s = tagRE.ReplaceAllString(s, "tag=<tag>")
	s = nonceRE.ReplaceAllString(s, `nonce="<nonce>"`)
	s = opaqueRE.ReplaceAllString(s, `opaque="<opaque>"`)
	s = timeRE.ReplaceAllString(s, "<time>")
	return portRE.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.Atoi(m[1:])
		if err != nil {
			return m
		}
		if name, ok := tr.ports[n]; ok {
			return m[:1] + name
		}
		return m
	})
}

// replyHeaders are the reply headers a transcript keeps (others, like
// Server, Content-Length, From and Call-ID, are implementation details or
// plain echoes).
var replyHeaders = []string{"Via", "To", "CSeq", "Contact", "WWW-Authenticate", "Proxy-Authenticate"}

// requestHeaders are the headers kept for requests a sipp UAS received from
// the server (what the server forwarded).
var requestHeaders = []string{"Via", "Max-Forwards", "From", "To", "CSeq"}

// sipMessages writes the messages of one sipp call. who is "" for the UAC
// and "uas" for a UAS.
func (tr *transcript) sipMessages(who string, msgs []sipMsg) {
	for _, m := range msgs {
		switch {
		case m.sent && m.isRequest():
			cred := ""
			if m.hdr("Authorization") != "" || m.hdr("Proxy-Authorization") != "" {
				cred = " (with credentials)"
			}
			tr.line("%s> %s%s", who, tr.norm(m.first), cred)
		case m.sent:
			tr.line("%s> %s", who, m.first)
		case !m.isRequest():
			tr.line("%s< %s", who, m.first)
			tr.headers(m, replyHeaders)
		default:
			tr.line("%s< %s", who, tr.norm(m.first))
			tr.headers(m, requestHeaders)
		}
	}
}

func (tr *transcript) headers(m sipMsg, names []string) {
	for _, name := range names {
		for _, v := range m.all(name) {
			if name == "Via" {
				v = sortParams(v)
			}
			tr.line("    %s: %s", name, tr.norm(v))
		}
	}
}

// sortParams sorts the ;parameters of a header value (the order of Via
// parameters carries no meaning: Kamailio puts rport after branch in its own
// replies but before it in forwarded messages).
func sortParams(v string) string {
	parts := strings.Split(v, ";")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	slices.Sort(parts[1:])
	return strings.Join(parts, ";")
}

// block writes command output indented, or "(empty)".
func (tr *transcript) block(out string) {
	out = strings.TrimRight(out, "\n")
	if out == "" {
		tr.line("    (empty)")
		return
	}
	for _, l := range strings.Split(out, "\n") {
		tr.line("    %s", tr.norm(l))
	}
}

// canonicalJSON re-encodes a JSON document with sorted keys and no
// formatting, so that servers that format differently compare equal.
func canonicalJSON(b []byte) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	out, err := json.Marshal(v)
	return string(out), err
}

// goldenPath returns testdata/<dir>/<name>.golden.
func goldenPath(dir, name string) string {
	return filepath.Join("testdata", dir, name+".golden")
}

// checkGolden compares got with the golden file; with -update (and only
// when record is true, i.e. for the Kamailio run) it rewrites the file.
func checkGolden(t *testing.T, path, got string, record bool) {
	t.Helper()
	if *update && record {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (record it with: go test ./test/e2e -run TestSeedKamailioOracle -update)", path, err)
	}
	if string(want) != got {
		t.Errorf("transcript differs from %s (- golden, + this run):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff returns a small unified-style diff of two texts (LCS by lines).
func lineDiff(a, b string) string {
	al := strings.Split(strings.TrimRight(a, "\n"), "\n")
	bl := strings.Split(strings.TrimRight(b, "\n"), "\n")
	n, m := len(al), len(bl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && al[i] == bl[j]:
			out.WriteString("  " + al[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + bl[j] + "\n")
			j++
		default:
			out.WriteString("- " + al[i] + "\n")
			i++
		}
	}
	return out.String()
}
