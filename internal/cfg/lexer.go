package cfg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Compat is the compatibility mode selected by the first-line marker
// (#!KAMAILIO, #!SER, #!MAXCOMPAT). It only changes how a bare "$name" is
// read: in Kamailio mode it is always a pseudo-variable; in the default
// "max" mode $f.x, $t.x and $name[...] are SER-style attributes.
type Compat uint8

// Compatibility modes.
const (
	CompatMax Compat = iota
	CompatKamailio
	CompatSER
)

// Define is one preprocessor definition given from outside the file (the
// -A NAME[=value] command-line option).
type Define struct {
	Name  string
	Value string // empty when the define has no value
}

// ParseDefineArg parses the argument of -A: "NAME" or "NAME=value".
func ParseDefineArg(s string) (Define, error) {
	name, value, _ := strings.Cut(s, "=")
	if !isIdent(name) {
		return Define{}, fmt.Errorf("invalid define name %q: expected [A-Za-z_][A-Za-z0-9_]*", name)
	}
	return Define{Name: name, Value: value}, nil
}

// Options control parsing.
type Options struct {
	// Defines are set before the file is read, in order (as -A does).
	Defines []Define
	// ReadFile reads the main file and include_file/import_file targets;
	// nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
	// Getenv resolves #!defenv; nil means os.Getenv.
	Getenv func(string) (string, bool)
	// MaxErrors stops parsing after this many syntax errors (0 = 50).
	MaxErrors int
}

const (
	maxIncludeDepth = 10
	maxDefineDepth  = 64
	maxIfdefDepth   = 512
)

type define struct {
	value string
	pos   Pos
}

type substRule struct {
	re     *regexp.Regexp
	repl   string
	global bool
}

type source struct {
	name string
	data string
	off  int
	line int
	col  int
	// define expansion
	expansion bool
	at        Token // the identifier that was replaced
	depth     int
	file      bool
}

type ifdefEntry struct {
	active bool
	pos    Pos
}

type lexer struct {
	srcs     []*source
	defines  map[string]*define
	ifs      []ifdefEntry
	skipping bool
	substs   []substRule
	compat   Compat
	errs     ErrorList
	warns    []*Error
	opts     Options
	files    []string
	evState  int // 1: after event_route, 2: after its '['
	spaced   bool
	endPos   Pos
	maxErrs  int
	fatal    bool
}

func newLexer(name string, data []byte, opts Options) *lexer {
	l := &lexer{defines: map[string]*define{}, opts: opts}
	if l.opts.ReadFile == nil {
		l.opts.ReadFile = os.ReadFile
	}
	if l.opts.Getenv == nil {
		l.opts.Getenv = os.LookupEnv
	}
	l.maxErrs = opts.MaxErrors
	if l.maxErrs <= 0 {
		l.maxErrs = 50
	}
	for _, n := range []string{"KAMAILIO_5", "KAMAILIO_5_6", "KAMAILIO_5_6_3", "SIPHT"} {
		l.defines[n] = &define{}
	}
	for _, d := range opts.Defines {
		if _, ok := l.defines[d.Name]; ok && d.Name != "SIPHT" && !strings.HasPrefix(d.Name, "KAMAILIO_") {
			l.errorf(Pos{}, "-A %s: already defined", d.Name)
			continue
		}
		l.defines[d.Name] = &define{value: d.Value}
	}
	l.pushFile(name, string(data))
	return l
}

func (l *lexer) errorf(pos Pos, format string, args ...any) {
	if len(l.errs) >= l.maxErrs {
		l.fatal = true
		return
	}
	l.errs = append(l.errs, Errorf(pos, format, args...))
	if len(l.errs) >= l.maxErrs {
		l.fatal = true
	}
}

func (l *lexer) warnf(pos Pos, format string, args ...any) {
	l.warns = append(l.warns, Errorf(pos, format, args...))
}

func (l *lexer) pushFile(name, data string) {
	l.srcs = append(l.srcs, &source{name: name, data: data, line: 1, col: 1, file: true})
	l.files = append(l.files, name)
}

func (l *lexer) top() *source {
	if len(l.srcs) == 0 {
		return nil
	}
	return l.srcs[len(l.srcs)-1]
}

func (l *lexer) fileDepth() int {
	n := 0
	for _, s := range l.srcs {
		if s.file {
			n++
		}
	}
	return n
}

// pos returns the position of the current character of s.
func (l *lexer) pos(s *source) Pos {
	if s.expansion {
		return s.at.Pos
	}
	return Pos{File: s.name, Line: s.line, Col: s.col}
}

func (s *source) eof() bool { return s.off >= len(s.data) }

func (s *source) peek(k int) byte {
	if s.off+k < len(s.data) {
		return s.data[s.off+k]
	}
	return 0
}

func (s *source) rest() string { return s.data[s.off:] }

func (s *source) advance(n int) {
	for i := 0; i < n && s.off < len(s.data); i++ {
		if s.data[s.off] == '\n' {
			s.line++
			s.col = 1
		} else {
			s.col++
		}
		s.off++
	}
}

func isEatable(c byte) bool { return c == ' ' || c == '\t' || c == '\b' || c == '\r' }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }

func isIdent(s string) bool {
	if s == "" || !(isLetter(s[0]) || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// next returns the next token, handling preprocessor directives, includes
// and define substitution on the way.
func (l *lexer) next() Token {
	l.spaced = false
	for {
		if l.fatal {
			return Token{Kind: EOF}
		}
		s := l.top()
		if s == nil {
			return l.eofToken()
		}
		if s.eof() {
			if len(l.srcs) == 1 {
				l.endPos = l.pos(s)
			}
			l.srcs = l.srcs[:len(l.srcs)-1]
			if len(l.srcs) == 0 {
				return l.eofToken()
			}
			if !s.expansion {
				l.spaced = true
			}
			continue
		}
		if l.skipping {
			l.skipLine(s)
			continue
		}
		if tok, ok := l.scan(s); ok {
			return tok
		}
	}
}

func (l *lexer) eofToken() Token {
	tok := Token{Kind: EOF, Pos: l.endPos}
	if len(l.ifs) > 0 {
		for _, e := range l.ifs {
			l.errorf(e.pos, "#!ifdef/#!ifndef without matching #!endif")
		}
		l.ifs = nil
	}
	return tok
}

// skipLine consumes input inside a false #!ifdef branch: only the ifdef,
// ifndef, else and endif directives are recognised.
func (l *lexer) skipLine(s *source) {
	c := s.peek(0)
	if (c == '#' && s.peek(1) == '!') || (c == '!' && s.peek(1) == '!') {
		word := directiveWord(s.rest()[2:])
		switch word {
		case "ifdef", "ifndef", "else", "endif":
			if l.directive(s, word) {
				return
			}
		}
	}
	s.advance(1)
}

func directiveWord(s string) string {
	i := 0
	for i < len(s) && (isLetter(s[i]) || s[i] == '_') {
		i++
	}
	return s[:i]
}

// scan reads one token or skips one piece of white space/comment/directive;
// ok is false when nothing was produced yet.
func (l *lexer) scan(s *source) (Token, bool) {
	c := s.peek(0)
	switch {
	case isEatable(c) || c == '\n':
		s.advance(1)
		l.spaced = true
		return Token{}, false
	case c == '\\' && s.peek(1) == '\n':
		s.advance(2)
		l.spaced = true
		return Token{}, false
	case c == '/' && s.peek(1) == '*':
		l.blockComment(s)
		l.spaced = true
		return Token{}, false
	case c == '/' && s.peek(1) == '/':
		if s.peek(2) == '!' && l.compatMarker(s, 3) {
			return Token{}, false
		}
		l.lineComment(s)
		return Token{}, false
	case c == '#':
		if s.peek(1) == '!' {
			if l.compatMarker(s, 2) {
				return Token{}, false
			}
			if l.directive(s, directiveWord(s.rest()[2:])) {
				return Token{}, false
			}
		}
		l.lineComment(s)
		return Token{}, false
	case c == '!' && s.peek(1) == '!':
		if l.directive(s, directiveWord(s.rest()[2:])) {
			return Token{}, false
		}
	}
	if l.evState > 0 {
		if t, ok := l.scanEventName(s); ok {
			return t, true
		}
	}
	start := l.pos(s)
	startOff := s.off
	tok := Token{Pos: start, Spaced: l.spaced, Line: l.lineOf(s)}
	mk := func(k TokKind, n int) (Token, bool) {
		tok.Kind = k
		tok.Raw = s.data[startOff : startOff+n]
		tok.Text = tok.Raw
		s.advance(n)
		return tok, true
	}
	switch {
	case c == '"':
		return l.scanString(s, tok)
	case c == '\'':
		return l.scanRawString(s, tok)
	case c == '$':
		return l.scanDollar(s, tok)
	case c == '@':
		return l.scanSelect(s, tok)
	case c == '%':
		return l.scanAttr(s, tok, 1)
	case isDigit(c):
		return l.scanNumber(s, tok)
	case isLetter(c) || c == '_':
		return l.scanWord(s, tok)
	}
	two := ""
	if s.off+2 <= len(s.data) {
		two = s.data[s.off : s.off+2]
	}
	switch two {
	case "==":
		return mk(EQ, 2)
	case "=~":
		return mk(MATCH, 2)
	case "+=":
		return mk(ADDEQ, 2)
	case "!=":
		return mk(NE, 2)
	case "&&":
		return mk(LAND, 2)
	case "||":
		return mk(LOR, 2)
	case "<<":
		return mk(LSHIFT, 2)
	case ">>":
		return mk(RSHIFT, 2)
	case "<=":
		return mk(LTE, 2)
	case ">=":
		return mk(GTE, 2)
	}
	if strings.HasPrefix(s.rest(), "(int)") {
		return mk(INTCAST, 5)
	}
	if strings.HasPrefix(s.rest(), "(str)") {
		return mk(STRCAST, 5)
	}
	switch c {
	case '=':
		return mk(ASSIGN, 1)
	case '!':
		return mk(NOT, 1)
	case '&':
		return mk(BAND, 1)
	case '|':
		return mk(BOR, 1)
	case '~':
		return mk(BNOT, 1)
	case '^':
		return mk(BXOR, 1)
	case '<':
		return mk(LT, 1)
	case '>':
		return mk(GT, 1)
	case '+':
		return mk(PLUS, 1)
	case '-':
		return mk(MINUS, 1)
	case '(':
		return mk(LPAREN, 1)
	case ')':
		return mk(RPAREN, 1)
	case '{':
		return mk(LBRACE, 1)
	case '}':
		return mk(RBRACE, 1)
	case '[':
		return mk(LBRACK, 1)
	case ']':
		return mk(RBRACK, 1)
	case ',':
		return mk(COMMA, 1)
	case ';':
		return mk(SEMI, 1)
	case ':':
		return mk(COLON, 1)
	case '.':
		return mk(DOT, 1)
	case '/':
		return mk(SLASH, 1)
	case '*':
		return mk(STAR, 1)
	}
	l.errorf(start, "unexpected character %q", c)
	s.advance(1)
	return Token{}, false
}

func (l *lexer) lineOf(s *source) int {
	if s.expansion {
		return s.at.Line
	}
	return s.line
}

func (l *lexer) lineComment(s *source) {
	for !s.eof() && s.peek(0) != '\n' {
		s.advance(1)
	}
	l.spaced = true
}

func (l *lexer) blockComment(s *source) {
	start := l.pos(s)
	nest := 0
	for !s.eof() {
		if s.peek(0) == '/' && s.peek(1) == '*' {
			nest++
			s.advance(2)
			continue
		}
		if s.peek(0) == '*' && s.peek(1) == '/' {
			nest--
			s.advance(2)
			if nest == 0 {
				return
			}
			continue
		}
		s.advance(1)
	}
	l.errorf(start, "unterminated comment: expected '*/' before end of file")
}

// compatMarker handles "#!KAMAILIO" style first-line markers; k is the
// offset of the word after "#!" or "//!".
func (l *lexer) compatMarker(s *source, k int) bool {
	rest := s.rest()[k:]
	word := directiveWord(rest)
	var mode Compat
	switch word {
	case "KAMAILIO", "OPENSER", "SIPHT":
		mode = CompatKamailio
	case "SER":
		mode = CompatSER
	case "MAXCOMPAT", "ALL":
		mode = CompatMax
	default:
		return false
	}
	after := rest[len(word):]
	if after != "" && after[0] != '\n' && !(after[0] == '\r' && len(after) > 1 && after[1] == '\n') {
		return false
	}
	l.compat = mode
	s.advance(k + len(word))
	return true
}

// restOfLine returns the text up to (not including) the next newline.
func restOfLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// directive processes "#!word ..." at the current position. It returns
// false when word is not a directive (then "#" starts a comment).
func (l *lexer) directive(s *source, word string) bool {
	start := l.pos(s)
	hdr := 2 + len(word)
	rest := s.rest()[hdr:]
	switch word {
	case "define", "def", "trydef", "trydefine", "redef", "redefine":
		if rest == "" || !isEatable(rest[0]) {
			return false
		}
		s.advance(hdr)
		l.defineDirective(s, start, word)
		return true
	case "ifdef", "ifndef":
		if rest == "" || !isEatable(rest[0]) {
			return false
		}
		s.advance(hdr)
		for isEatable(s.peek(0)) {
			s.advance(1)
		}
		namePos := l.pos(s)
		name := identPrefix(s.rest())
		if name == "" {
			l.errorf(namePos, "#!%s: expected a define name", word)
			l.lineComment(s)
			return true
		}
		s.advance(len(name))
		if s.peek(0) == '-' {
			l.errorf(namePos, "#!%s %s-: '-' not allowed in a define name", word, name)
		}
		tail := restOfLine(s.rest())
		if strings.Trim(tail, " \t\b\r") != "" {
			l.errorf(namePos, "#!%s %s: unexpected text %q after the name (directives take no comment on the same line)", word, name, strings.TrimSpace(tail))
		}
		l.lineComment(s)
		if len(l.ifs) >= maxIfdefDepth {
			l.errorf(start, "too many nested #!ifdef")
			return true
		}
		_, defined := l.defines[name]
		active := defined == (word == "ifdef")
		l.ifs = append(l.ifs, ifdefEntry{active: active, pos: start})
		l.updateSkip()
		return true
	case "else", "endif":
		tail := restOfLine(rest)
		if strings.Trim(tail, " \t\b\r") != "" {
			// Kamailio only recognises the directive when the line ends
			// right after it; otherwise the line is a comment.
			l.warnf(start, "#!%s followed by %q is read as a comment, as Kamailio does", word, strings.TrimSpace(tail))
			return false
		}
		s.advance(hdr)
		l.lineComment(s)
		if len(l.ifs) == 0 {
			if word == "endif" {
				l.errorf(start, "#!endif without #!ifdef/#!ifndef")
			} else {
				l.warnf(start, "#!else without #!ifdef/#!ifndef (ignored)")
			}
			return true
		}
		if word == "else" {
			l.ifs[len(l.ifs)-1].active = !l.ifs[len(l.ifs)-1].active
		} else {
			l.ifs = l.ifs[:len(l.ifs)-1]
		}
		l.updateSkip()
		return true
	case "subst", "substdef", "substdefs":
		s.advance(hdr)
		l.substDirective(s, start, word)
		return true
	case "include_file", "import_file":
		s.advance(hdr)
		l.include(s, start, word == "import_file")
		return true
	case "defenv", "defenvs", "trydefenv", "trydefenvs":
		s.advance(hdr)
		l.defenv(s, start, word)
		return true
	}
	return false
}

func (l *lexer) updateSkip() {
	l.skipping = false
	for _, e := range l.ifs {
		if !e.active {
			l.skipping = true
			return
		}
	}
}

func identPrefix(s string) string {
	if s == "" || !(isLetter(s[0]) || s[0] == '_') {
		return ""
	}
	i := 1
	for i < len(s) && isAlnum(s[i]) {
		i++
	}
	return s[:i]
}

func (l *lexer) defineDirective(s *source, start Pos, word string) {
	for isEatable(s.peek(0)) {
		s.advance(1)
	}
	namePos := l.pos(s)
	name := identPrefix(s.rest())
	if name == "" {
		l.errorf(namePos, "#!%s: expected a define name", word)
		l.lineComment(s)
		return
	}
	s.advance(len(name))
	if s.peek(0) == '-' {
		l.errorf(namePos, "#!%s %s-: '-' not allowed in a define name", word, name)
		l.lineComment(s)
		return
	}
	for isEatable(s.peek(0)) {
		s.advance(1)
	}
	// value: rest of the line; a backslash before the newline continues it
	var val strings.Builder
	for !s.eof() {
		c := s.peek(0)
		if c == '\\' && s.peek(1) == '\n' {
			s.advance(2)
			continue
		}
		if c == '\n' {
			break
		}
		val.WriteByte(c)
		s.advance(1)
	}
	value := strings.TrimRight(val.String(), "\r")
	l.setDefine(namePos, word, name, value)
}

func (l *lexer) setDefine(pos Pos, word, name, value string) {
	_, exists := l.defines[name]
	switch word {
	case "trydef", "trydefine", "trydefenv", "trydefenvs":
		if exists {
			return
		}
	case "redef", "redefine":
	default:
		if exists {
			l.errorf(pos, "#!%s %s: already defined (use #!redefine or #!trydef)", word, name)
			return
		}
	}
	l.defines[name] = &define{value: value, pos: pos}
}

func (l *lexer) defenv(s *source, start Pos, word string) {
	for s.peek(0) == ' ' || s.peek(0) == '\t' {
		s.advance(1)
	}
	argPos := l.pos(s)
	i := 0
	rest := s.rest()
	for i < len(rest) && rest[i] != ' ' && rest[i] != '\t' && rest[i] != '\r' && rest[i] != '\n' {
		i++
	}
	arg := rest[:i]
	s.advance(i)
	if arg == "" {
		l.errorf(argPos, "#!%s: expected NAME=ENVVAR or ENVVAR", word)
		return
	}
	name, env, found := strings.Cut(arg, "=")
	if !found {
		env = name
	}
	if env == "" {
		l.errorf(argPos, "#!%s %s: empty environment variable name", word, arg)
		return
	}
	v, ok := l.opts.Getenv(env)
	if !ok {
		if strings.HasPrefix(word, "try") {
			return
		}
		l.errorf(argPos, "#!%s %s: environment variable %s is not set", word, arg, env)
		return
	}
	if strings.HasSuffix(word, "s") {
		v = `"` + v + `"`
	}
	if strings.HasPrefix(word, "try") {
		l.setDefine(argPos, "trydef", name, v)
	} else {
		l.setDefine(argPos, "define", name, v)
	}
}

// substDirective reads the string after #!subst/#!substdef/#!substdefs.
func (l *lexer) substDirective(s *source, start Pos, word string) {
	for isEatable(s.peek(0)) || s.peek(0) == '\n' {
		s.advance(1)
	}
	var arg string
	switch s.peek(0) {
	case '"':
		t, ok := l.scanString(s, Token{Pos: l.pos(s)})
		if !ok {
			return
		}
		arg = t.Text
	case '\'':
		t, ok := l.scanRawString(s, Token{Pos: l.pos(s)})
		if !ok {
			return
		}
		arg = t.Text
	default:
		l.errorf(start, "#!%s: expected a quoted \"/regexp/replacement/flags\"", word)
		return
	}
	re, repl, flags, err := splitSubst(arg)
	if err != nil {
		l.errorf(start, "#!%s %q: %v", word, arg, err)
		return
	}
	rule := substRule{repl: repl, global: strings.Contains(flags, "g")}
	rule.re, err = CompileERE(re, strings.Contains(flags, "i"))
	if err != nil {
		l.errorf(start, "#!%s %q: bad regular expression: %v", word, arg, err)
		return
	}
	l.substs = append(l.substs, rule)
	if word != "subst" {
		if !isIdent(re) {
			// Kamailio defines the regexp text itself as the name.
			l.warnf(start, "#!%s %q: the expression %q is not an identifier; it can only match in strings", word, arg, re)
		}
		v := unescapeSep(repl, arg[0])
		if word == "substdefs" {
			v = `"` + v + `"`
		}
		l.setDefine(start, "define", re, v)
	}
}

// splitSubst splits "/re/repl/flags" (any separator, '\' escapes it).
func splitSubst(a string) (re, repl, flags string, err error) {
	if len(a) < 4 {
		return "", "", "", errors.New("expected \"/regexp/replacement/flags\"")
	}
	sep := a[0]
	if sep == '\\' {
		return "", "", "", errors.New("invalid separator '\\'")
	}
	parts := []string{}
	cur := 1
	for i := 1; i < len(a) && len(parts) < 2; i++ {
		if a[i] == sep && a[i-1] != '\\' {
			parts = append(parts, a[cur:i])
			cur = i + 1
		}
	}
	if len(parts) < 2 {
		return "", "", "", fmt.Errorf("separator %q not found after the regexp and the replacement", sep)
	}
	for _, f := range a[cur:] {
		if !strings.ContainsRune("igs", f) {
			return "", "", "", fmt.Errorf("unknown flag %q (expected i, g or s)", f)
		}
	}
	return unescapeSep(parts[0], sep), parts[1], a[cur:], nil
}

func unescapeSep(s string, sep byte) string {
	return strings.ReplaceAll(s, `\`+string(sep), string(sep))
}

// applySubst runs the #!subst rules on a string literal or PV text.
func (l *lexer) applySubst(s string) string {
	for _, r := range l.substs {
		s = r.apply(s)
	}
	return s
}

func (r substRule) apply(s string) string {
	locs := r.re.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	if !r.global {
		locs = locs[:1]
	}
	var b strings.Builder
	last := 0
	for _, m := range locs {
		b.WriteString(s[last:m[0]])
		for i := 0; i < len(r.repl); i++ {
			c := r.repl[i]
			if c == '\\' && i+1 < len(r.repl) {
				n := r.repl[i+1]
				if n >= '0' && n <= '9' {
					g := int(n - '0')
					if 2*g+1 < len(m) && m[2*g] >= 0 {
						b.WriteString(s[m[2*g]:m[2*g+1]])
					}
					i++
					continue
				}
				b.WriteByte(n)
				i++
				continue
			}
			b.WriteByte(c)
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// include handles include_file/import_file "path".
func (l *lexer) include(s *source, start Pos, optional bool) {
	for s.peek(0) == ' ' || s.peek(0) == '\t' {
		s.advance(1)
	}
	rest := s.rest()
	i := 0
	for i < len(rest) && rest[i] != ' ' && rest[i] != '\t' && rest[i] != '\r' && rest[i] != '\n' {
		i++
	}
	raw := rest[:i]
	s.advance(i)
	what := "include_file"
	if optional {
		what = "import_file"
	}
	if len(raw) < 3 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		l.errorf(start, "%s: the file name must be between double quotes, got %q", what, raw)
		return
	}
	name, err := unquoteIncludeName(raw[1 : len(raw)-1])
	if err != nil {
		l.errorf(start, "%s %s: %v", what, raw, err)
		return
	}
	name = l.applySubst(name)
	if l.fileDepth() >= maxIncludeDepth {
		l.errorf(start, "%s %s: too many nested includes (max %d)", what, raw, maxIncludeDepth)
		return
	}
	cur := l.currentFile()
	data, path, err := l.readInclude(name, cur)
	if err != nil {
		if optional {
			return
		}
		l.errorf(start, "%s %s: cannot open the file: %v", what, raw, err)
		return
	}
	l.pushFile(path, string(data))
}

func (l *lexer) currentFile() string {
	for i := len(l.srcs) - 1; i >= 0; i-- {
		if l.srcs[i].file {
			return l.srcs[i].name
		}
	}
	return ""
}

func (l *lexer) readInclude(name, from string) ([]byte, string, error) {
	data, err := l.opts.ReadFile(name)
	if err == nil {
		return data, name, nil
	}
	if filepath.IsAbs(name) || from == "" || !strings.Contains(from, "/") {
		return nil, "", err
	}
	alt := filepath.Join(filepath.Dir(from), name)
	data, err2 := l.opts.ReadFile(alt)
	if err2 != nil {
		return nil, "", fmt.Errorf("%v; also tried %s", err, alt)
	}
	return data, alt, nil
}

func unquoteIncludeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 >= len(s) {
				return "", errors.New("invalid escape at the end of the file name")
			}
			i++
			switch s[i] {
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// scanString reads a double-quoted string with escapes; adjacent quoted
// strings separated only by white space are concatenated.
func (l *lexer) scanString(s *source, tok Token) (Token, bool) {
	startOff := s.off
	var b strings.Builder
	for {
		s.advance(1) // opening quote
		closed := false
		for !s.eof() {
			c := s.peek(0)
			if c == '"' {
				s.advance(1)
				closed = true
				break
			}
			if c == '\\' {
				n := s.peek(1)
				switch {
				case n == 'n':
					b.WriteByte('\n')
					s.advance(2)
				case n == 'r':
					b.WriteByte('\r')
					s.advance(2)
				case n == 'a':
					b.WriteByte('\a')
					s.advance(2)
				case n == 't':
					b.WriteByte('\t')
					s.advance(2)
				case n == '"':
					b.WriteByte('"')
					s.advance(2)
				case n == '\\':
					b.WriteByte('\\')
					s.advance(2)
				case n == '\n':
					s.advance(2)
				case n == 'x' && isHex(s.peek(2)):
					k := 3
					if isHex(s.peek(3)) {
						k = 4
					}
					v, _ := strconv.ParseUint(s.data[s.off+2:s.off+k], 16, 8)
					b.WriteByte(byte(v))
					s.advance(k)
				case isOct(n) && isOct(s.peek(2)):
					k := 3
					if isOct(s.peek(3)) {
						k = 4
					}
					v, _ := strconv.ParseUint(s.data[s.off+1:s.off+k], 8, 16)
					b.WriteByte(byte(v))
					s.advance(k)
				default:
					b.WriteByte('\\')
					s.advance(1)
				}
				continue
			}
			b.WriteByte(c)
			s.advance(1)
		}
		if !closed {
			l.errorf(tok.Pos, "unterminated string: expected '\"' before end of file")
			return Token{}, false
		}
		// look ahead over white space for another quoted string
		k := s.off
		for k < len(s.data) && (isEatable(s.data[k]) || s.data[k] == '\n') {
			k++
		}
		if k < len(s.data) && s.data[k] == '"' {
			s.advance(k - s.off)
			continue
		}
		break
	}
	tok.Kind = STRING
	tok.Text = l.applySubst(b.String())
	tok.Raw = s.data[startOff:s.off]
	return tok, true
}

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }

func (l *lexer) scanRawString(s *source, tok Token) (Token, bool) {
	startOff := s.off
	end := strings.IndexByte(s.data[s.off+1:], '\'')
	if end < 0 {
		l.errorf(tok.Pos, "unterminated string: expected \"'\" before end of file")
		s.advance(len(s.data) - s.off)
		return Token{}, false
	}
	tok.Kind = STRING
	tok.Text = l.applySubst(s.data[s.off+1 : s.off+1+end])
	s.advance(end + 2)
	tok.Raw = s.data[startOff:s.off]
	return tok, true
}

// parenEnd returns the index just after the ')' that balances the '(' at
// s[i], or -1 (also when a newline comes first).
func parenEnd(s string, i int) int {
	n := 0
	for k := i; k < len(s); k++ {
		switch s[k] {
		case '\n':
			return -1
		case '(':
			n++
		case ')':
			n--
			if n == 0 {
				return k + 1
			}
		}
	}
	return -1
}

var avpPrefix = regexp.MustCompile(`^(([ft][rud]?)|g)\.`)

// scanDollar reads a pseudo-variable ($name, $name(...), $(...)), the
// return-code variables ($?, $rc, $retcode) or, in max-compat mode, a
// SER-style attribute ($f.name, $name[idx]).
func (l *lexer) scanDollar(s *source, tok Token) (Token, bool) {
	rest := s.rest()
	pvTok := func(n int) (Token, bool) {
		tok.Kind = PVAR
		tok.Raw = rest[:n]
		tok.Text = l.applySubst(tok.Raw)
		s.advance(n)
		return tok, true
	}
	if len(rest) > 1 && rest[1] == '(' {
		end := parenEnd(rest, 1)
		if end < 0 {
			l.errorf(tok.Pos, "unterminated pseudo-variable %s: expected ')' before the end of the line", firstLine(rest))
			s.advance(len(restOfLine(rest)))
			return Token{}, false
		}
		return pvTok(end)
	}
	for _, rc := range []string{"$retcode", "$rc", "$?"} {
		if strings.HasPrefix(rest, rc) {
			return pvTok(len(rc))
		}
	}
	name := identPrefix(rest[1:])
	if name == "" {
		l.errorf(tok.Pos, "invalid pseudo-variable: expected a name after '$'")
		s.advance(1)
		return Token{}, false
	}
	if l.compat != CompatKamailio {
		if m := avpPrefix.FindString(rest[1:]); m != "" && len(m) > len(name) {
			return l.scanAttr(s, tok, 1)
		}
		if strings.HasPrefix(rest[1+len(name):], "[") {
			return l.scanAttr(s, tok, 1)
		}
	}
	n := 1 + len(name)
	if n < len(rest) && rest[n] == '(' {
		end := parenEnd(rest, n)
		if end < 0 {
			l.errorf(tok.Pos, "unterminated pseudo-variable %s: expected ')' before the end of the line", firstLine(rest))
			s.advance(len(restOfLine(rest)))
			return Token{}, false
		}
		n = end
	}
	return pvTok(n)
}

func firstLine(s string) string {
	s = restOfLine(s)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// scanAttr reads a SER-style attribute: mark, [class.]name, [idx] or [].
func (l *lexer) scanAttr(s *source, tok Token, markLen int) (Token, bool) {
	rest := s.rest()
	n := markLen
	if m := avpPrefix.FindString(rest[n:]); m != "" {
		n += len(m)
	}
	name := identPrefix(rest[n:])
	if name == "" {
		l.errorf(tok.Pos, "invalid attribute %s: expected a name", firstLine(rest))
		s.advance(n)
		return Token{}, false
	}
	n += len(name)
	if n < len(rest) && rest[n] == '[' {
		end := strings.IndexByte(rest[n:], ']')
		if end < 0 {
			l.errorf(tok.Pos, "invalid attribute %s: expected ']'", firstLine(rest))
			s.advance(n)
			return Token{}, false
		}
		n += end + 1
	}
	tok.Kind = AVPATTR
	tok.Raw = rest[:n]
	tok.Text = tok.Raw
	s.advance(n)
	return tok, true
}

// scanSelect reads a SER select: @name(.name|[idx]|["str"])*.
func (l *lexer) scanSelect(s *source, tok Token) (Token, bool) {
	rest := s.rest()
	n := 1
	first := true
	for {
		if first || (n < len(rest) && rest[n] == '.') {
			k := n
			if !first {
				k++
			}
			id := identPrefix(rest[k:])
			if id == "" {
				break
			}
			n = k + len(id)
			first = false
			continue
		}
		if n < len(rest) && rest[n] == '[' {
			end := strings.IndexByte(rest[n:], ']')
			if end < 0 {
				break
			}
			n += end + 1
			continue
		}
		break
	}
	if n == 1 {
		l.errorf(tok.Pos, "invalid select: expected a name after '@'")
		s.advance(1)
		return Token{}, false
	}
	tok.Kind = SELECT
	tok.Raw = rest[:n]
	tok.Text = tok.Raw
	s.advance(n)
	return tok, true
}

// scanNumber reads a number or, when letters follow, a NUMID.
func (l *lexer) scanNumber(s *source, tok Token) (Token, bool) {
	rest := s.rest()
	run := 0
	for run < len(rest) && isAlnum(rest[run]) {
		run++
	}
	word := rest[:run]
	kind, n, val := numberPrefix(word)
	if n == run {
		tok.Kind = NUMBER
		tok.Int = val
		tok.Raw = word
		tok.Text = word
		s.advance(run)
		_ = kind
		return tok, true
	}
	tok.Kind = NUMID
	tok.Raw = word
	tok.Text = word
	s.advance(run)
	return tok, true
}

// numberPrefix returns the longest number literal at the start of w
// (decimal, 0x hex, 0 octal, [01]+b binary), as Kamailio's lexer.
func numberPrefix(w string) (kind string, n int, val int64) {
	// decimal
	if w[0] == '0' {
		n, kind = 1, "dec"
	} else {
		for n < len(w) && isDigit(w[n]) {
			n++
		}
		kind = "dec"
	}
	best := n
	bestKind := kind
	if len(w) > 2 && w[0] == '0' && w[1] == 'x' && isHex(w[2]) {
		k := 2
		for k < len(w) && isHex(w[k]) {
			k++
		}
		if k > best {
			best, bestKind = k, "hex"
		}
	}
	if len(w) > 1 && w[0] == '0' && isOct(w[1]) {
		k := 1
		for k < len(w) && isOct(w[k]) {
			k++
		}
		if k > best {
			best, bestKind = k, "oct"
		}
	}
	k := 0
	for k < len(w) && (w[k] == '0' || w[k] == '1') {
		k++
	}
	if k > 0 && k < len(w) && w[k] == 'b' && k+1 > best {
		best, bestKind = k+1, "bin"
	}
	text := w[:best]
	var u uint64
	switch bestKind {
	case "dec":
		u, _ = strconv.ParseUint(text, 10, 64)
	case "hex":
		u, _ = strconv.ParseUint(text[2:], 16, 64)
	case "oct":
		u, _ = strconv.ParseUint(text[1:], 8, 64)
	case "bin":
		u, _ = strconv.ParseUint(text[:len(text)-1], 2, 64)
	}
	return bestKind, best, int64(u)
}

// scanWord reads an identifier, keyword, number word (yes/no/...), an
// include directive, or replaces a #!define'd identifier.
func (l *lexer) scanWord(s *source, tok Token) (Token, bool) {
	rest := s.rest()
	word := identPrefix(rest)
	// keywords containing ':' (uri:host, uri:port, msg:len)
	for _, kw := range []string{"uri:host", "uri:port", "msg:len"} {
		if strings.HasPrefix(rest, kw) {
			word = kw
		}
	}
	if word == "include_file" || word == "import_file" {
		s.advance(len(word))
		l.include(s, tok.Pos, word == "import_file")
		return Token{}, false
	}
	tok.Raw = word
	tok.Text = word
	if k, ok := opWords[word]; ok {
		tok.Kind = k
		s.advance(len(word))
		return tok, true
	}
	if v, ok := numberWords[word]; ok {
		tok.Kind = NUMBER
		tok.Int = v
		s.advance(len(word))
		return tok, true
	}
	if _, ok := keywords[word]; ok {
		tok.Kind = KEYWORD
		s.advance(len(word))
		if word == "event_route" {
			l.evState = 1
		}
		return tok, true
	}
	if d, ok := l.defines[word]; ok {
		s.advance(len(word))
		depth := 0
		if s.expansion {
			depth = s.depth
		}
		if depth >= maxDefineDepth {
			l.errorf(tok.Pos, "#!define %s: expansion too deep (recursive definition?)", word)
			return Token{}, false
		}
		if d.value != "" {
			at := tok
			l.srcs = append(l.srcs, &source{name: s.name, data: d.value, line: 1, col: 1,
				expansion: true, at: at, depth: depth + 1})
		}
		return Token{}, false
	}
	tok.Kind = IDENT
	s.advance(len(word))
	return tok, true
}

var evNameRe = regexp.MustCompile(`^[a-zA-Z][0-9a-zA-Z-]*(:[a-zA-Z][0-9a-zA-Z_-]*)+`)

// scanEventName handles the tokens after event_route: '[', the name, ']'.
func (l *lexer) scanEventName(s *source) (Token, bool) {
	tok := Token{Pos: l.pos(s), Spaced: l.spaced, Line: l.lineOf(s)}
	switch l.evState {
	case 1:
		if s.peek(0) == '[' {
			l.evState = 2
			tok.Kind, tok.Text, tok.Raw = LBRACK, "[", "["
			s.advance(1)
			return tok, true
		}
		l.evState = 0
		return Token{}, false
	case 2:
		l.evState = 3
		m := evNameRe.FindString(s.rest())
		if m == "" {
			l.errorf(tok.Pos, "invalid event route name %s: expected module:event (letters, digits, '-', '_', at least one ':')", firstLine(s.rest()))
			return Token{}, false
		}
		tok.Kind, tok.Text, tok.Raw = EVNAME, m, m
		s.advance(len(m))
		return tok, true
	case 3:
		l.evState = 0
	}
	return Token{}, false
}
