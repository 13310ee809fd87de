// Package snippet is the one definition of sipht's differential script
// tests: the snippet file format (internal/script/testdata/diff/*.cfg), the
// complete configuration built around a snippet, the request sent to it, how
// the script's log lines are recognised and how a golden file is written.
// diffgen uses it to run snippets on Kamailio, test/diff to run them on
// sipht; both must build the same config, so neither has its own copy.
package snippet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Snippet is one differential test case: the statements of a request_route
// body, optional sub-routes and optional htable definitions, read from
// internal/script/testdata/diff/<NNN>_<name>.cfg.
type Snippet struct {
	// Name is the file name without extension, e.g. "001_int_add".
	Name string
	// Path is the snippet file.
	Path string
	// Tables are the htable definitions of the `#!table` header lines, in
	// file order; each becomes modparam("htable","htable","<def>").
	Tables []string
	// Body holds the lines of the request_route body, verbatim.
	Body []string
	// Routes are the `#!route NAME` sections, in file order.
	Routes []Route
}

// Route is one `#!route NAME` section of a snippet.
type Route struct {
	// Name is the route name used in route[NAME] and route(NAME).
	Name string
	// Lines are the statements of the route body, verbatim.
	Lines []string
}

var (
	snippetFileRE = regexp.MustCompile(`^([0-9]{3})_[a-z0-9]+(_[a-z0-9]+)*\.cfg$`)
	routeNameRE   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// ParseSnippet reads a snippet from text. name is used in error messages and
// as Snippet.Name.
//
// Rules (mirrored in internal/script/testdata/diff/README.md):
//   - the first lines of the file may be `#!table <definition>` lines; they
//     are allowed nowhere else;
//   - a line `#!route NAME` starts a sub-route section that runs to the next
//     `#!route` line or the end of the file;
//   - every other line (after trimming leading blanks) starting with `#!` or
//     `!!` is rejected, so that snippets never depend on the preprocessor.
func ParseSnippet(name, text string) (*Snippet, error) {
	s := &Snippet{Name: name}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	header := true
	var cur *Route
	for i, raw := range lines {
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimSpace(line)
		lineNo := i + 1
		if header && strings.HasPrefix(trimmed, "#!table") {
			def := strings.TrimSpace(strings.TrimPrefix(trimmed, "#!table"))
			if def == "" || !strings.Contains(def, "=>") {
				return nil, fmt.Errorf("%s:%d: #!table needs a definition like name=>size=4", name, lineNo)
			}
			if strings.ContainsAny(def, `"\`) {
				return nil, fmt.Errorf("%s:%d: #!table definition must not contain quotes or backslashes", name, lineNo)
			}
			s.Tables = append(s.Tables, def)
			continue
		}
		header = false
		switch {
		case strings.HasPrefix(trimmed, "#!route"):
			rn := strings.TrimSpace(strings.TrimPrefix(trimmed, "#!route"))
			if !routeNameRE.MatchString(rn) {
				return nil, fmt.Errorf("%s:%d: bad route name %q after #!route", name, lineNo, rn)
			}
			for _, r := range s.Routes {
				if r.Name == rn {
					return nil, fmt.Errorf("%s:%d: route %q defined twice", name, lineNo, rn)
				}
			}
			s.Routes = append(s.Routes, Route{Name: rn})
			cur = &s.Routes[len(s.Routes)-1]
		case strings.HasPrefix(trimmed, "#!table"):
			return nil, fmt.Errorf("%s:%d: #!table lines must come first", name, lineNo)
		case strings.HasPrefix(trimmed, "#!"), strings.HasPrefix(trimmed, "!!"):
			return nil, fmt.Errorf("%s:%d: preprocessor directive %q not allowed in a snippet", name, lineNo, trimmed)
		case cur != nil:
			cur.Lines = append(cur.Lines, line)
		default:
			s.Body = append(s.Body, line)
		}
	}
	return s, nil
}

// LoadSnippets reads every <NNN>_<name>.cfg file of dir, sorted by name.
// Files with other names are ignored except that a .cfg file whose name
// does not follow the pattern is an error.
func LoadSnippets(dir string) ([]*Snippet, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading snippet dir: %w", err)
	}
	var out []*Snippet
	seen := map[string]string{}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".cfg") {
			continue
		}
		m := snippetFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("snippet file %q: name must be NNN_snake_case.cfg", e.Name())
		}
		if prev, dup := seen[m[1]]; dup {
			return nil, fmt.Errorf("snippet number %s used twice (%s, %s)", m[1], prev, e.Name())
		}
		seen[m[1]] = e.Name()
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading snippet: %w", err)
		}
		s, err := ParseSnippet(strings.TrimSuffix(e.Name(), ".cfg"), string(b))
		if err != nil {
			return nil, err
		}
		s.Path = p
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Modules is the fixed list of modules loaded for every snippet, in load
// order. Snippets may only call functions of these modules (and the core).
var Modules = []string{"sl", "pv", "xlog", "htable", "textops", "kex", "corex", "siputils", "maxfwd"}

// MarkerPrefix starts the log line the generator's own reply_route prints
// for each marker reply it sends; such lines are never part of a golden.
const MarkerPrefix = "@@DIFFGEN-MARK "

// Config returns the Kamailio configuration that runs the snippet, listening
// on udp:127.0.0.1:port. Everything above the marker reply_route is what the
// README documents as "the snippet's config"; the reply_route only lets the
// generator know when Kamailio has finished with the request.
func (s *Snippet) Config(port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sipht differential snippet %s (generated by diffgen)\n", s.Name)
	b.WriteString("log_stderror=yes\n")
	b.WriteString("children=1\n")
	b.WriteString("disable_tcp=yes\n")
	b.WriteString("auto_aliases=no\n")
	fmt.Fprintf(&b, "listen=udp:127.0.0.1:%d\n", port)
	b.WriteString("\n")
	for _, m := range Modules {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "modparam(\"htable\",\"htable\",\"%s\")\n", t)
	}
	b.WriteString("\nrequest_route {\n")
	for _, l := range s.Body {
		b.WriteString(l)
		b.WriteString("\n")
	}
	b.WriteString("exit;\n}\n")
	for _, r := range s.Routes {
		fmt.Fprintf(&b, "\nroute[%s] {\n", r.Name)
		for _, l := range r.Lines {
			b.WriteString(l)
			b.WriteString("\n")
		}
		b.WriteString("}\n")
	}
	b.WriteString("\n# diffgen harness only: marks the end of request processing\n")
	b.WriteString("reply_route {\n")
	fmt.Fprintf(&b, "xlog(\"L_ERR\", \"%s$ci@@\\n\");\n", MarkerPrefix)
	b.WriteString("drop;\n}\n")
	return b.String()
}

// Request returns the fixed OPTIONS request sent for every snippet. Its text
// does not depend on any port: Via carries rport so replies come back to the
// sender's real port.
func Request() string {
	return strings.Join([]string{
		"OPTIONS sip:test@127.0.0.1 SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-diffgen-1",
		"From: <sip:alice@127.0.0.1>;tag=1",
		"To: <sip:test@127.0.0.1>",
		"Call-ID: diffgen-1@127.0.0.1",
		"CSeq: 1 OPTIONS",
		"Max-Forwards: 70",
		"User-Agent: sipht-diffgen",
		"X-Test: hello",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
}

// MarkerReply returns the SIP reply whose arrival makes the harness
// reply_route print MarkerPrefix+callID+"@@": a runner sends one after the
// request and knows the request is completely processed when the marker is
// logged (with children=1 one worker handles both, in order).
func MarkerReply(callID string) string {
	return strings.Join([]string{
		"SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-diffgen-mark",
		"From: <sip:alice@127.0.0.1>;tag=1",
		"To: <sip:test@127.0.0.1>;tag=2",
		"Call-ID: " + callID,
		"CSeq: 1 OPTIONS",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
}

// Marker is the text the harness reply_route logs for the marker reply
// with Call-ID callID.
func Marker(callID string) string { return MarkerPrefix + callID + "@@" }

// ConfigErrorLine is the whole golden of a snippet the server refuses to
// start with.
const ConfigErrorLine = "!config-error"

// Result is what a server did with one snippet.
type Result struct {
	// ConfigError is true when the server refused the configuration.
	ConfigError bool
	// Lines are the xlog message texts, in order, without log prefix and
	// without the trailing newline.
	Lines []string
	// Replies are the status lines of the replies received, as "<code> <reason>".
	Replies []string
	// Stderr is the server's whole log output, for diagnostics.
	Stderr []string
	// Missing lists the modules the config loads that the server lacks
	// (sipht runs with Sipht.SkipMissingModules).
	Missing []string
	// Unsupported is set when the config failed to load only because of
	// functions, pseudo-variables or transformations nobody provides
	// (names like "is_method/1", "sht", "s.foo"): a missing feature, not
	// a config error.
	Unsupported []string
}

// Golden renders the result in golden-file form.
func (r *Result) Golden() string {
	if r.ConfigError {
		return ConfigErrorLine + "\n"
	}
	var b strings.Builder
	for _, l := range r.Lines {
		b.WriteString(l)
		b.WriteString("\n")
	}
	for _, rep := range r.Replies {
		b.WriteString("!reply ")
		b.WriteString(rep)
		b.WriteString("\n")
	}
	return b.String()
}

// ScriptLogRE matches a log line written by xlog, Kamailio's and sipht's
// alike: " 1(4242) ERROR: <script>: text"; the last group is the text.
// With the core log_prefix set, Kamailio prints the prefix before
// "<script>: " (" 1(7) ERROR: {1 OPTIONS} <script>: text"): the first group.
var ScriptLogRE = regexp.MustCompile(`^\s*\d+\(\d+\) [A-Z0-9]+: (|\S.*? )<script>: (.*)$`)

// LogPrefixRE finds a log prefix inside a line, which happens when an xlog
// message lacks its trailing newline and the next log line is glued to it;
// such output embeds a PID and can never be a stable golden.
var LogPrefixRE = regexp.MustCompile(`\d+\(\d+\) [A-Z0-9]+: `)

// ScriptText returns the xlog text of a log line (with a log_prefix, if
// any, in front of it) and whether the line is one.
func ScriptText(line string) (string, bool) {
	m := ScriptLogRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1] + m[2], true
}

// ScriptLines extracts the xlog texts from log lines, leaving out marker
// lines. A log_prefix stays in front of its text. It fails when an xlog
// text ran into the next log line.
func ScriptLines(lines []string) ([]string, error) {
	var out []string
	for _, l := range lines {
		m := ScriptLogRE.FindStringSubmatch(l)
		if m == nil || strings.HasPrefix(m[2], MarkerPrefix) {
			continue
		}
		if LogPrefixRE.MatchString(m[2]) {
			return nil, fmt.Errorf("an xlog line ran into the next log line (xlog text without trailing newline?): %q", l)
		}
		out = append(out, m[1]+m[2])
	}
	return out, nil
}

// ReplyStatus returns "<code> <reason>" from a raw SIP reply, ok=false for
// anything else.
func ReplyStatus(raw []byte) (string, bool) {
	first, _, _ := strings.Cut(string(raw), "\r\n")
	return strings.CutPrefix(first, "SIP/2.0 ")
}

// Dir is the snippet directory relative to the module root.
const Dir = "internal/script/testdata/diff"
