package cfg

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ParseFile reads and parses the configuration file at path. On error the
// returned *File holds what could be parsed and the error is an ErrorList
// with every syntax error found (each with file:line:column).
func ParseFile(path string, opts Options) (*File, error) {
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse parses configuration text; name is used in positions and to
// resolve relative include_file paths.
func Parse(name string, src []byte, opts Options) (*File, error) {
	lx := newLexer(name, src, opts)
	p := &parser{lx: lx}
	p.advance()
	f := p.parseFile()
	f.Name = name
	f.Files = lx.files
	f.Compat = lx.compat
	f.Warnings = lx.warns
	return f, lx.errs.Err()
}

type parser struct {
	lx   *lexer
	tok  Token
	buf  []Token
	prev Token
}

func (p *parser) advance() {
	p.prev = p.tok
	if len(p.buf) > 0 {
		p.tok = p.buf[0]
		p.buf = p.buf[1:]
		return
	}
	p.tok = p.lx.next()
}

// peek returns the token n positions after the current one (n >= 1).
func (p *parser) peek(n int) Token {
	for len(p.buf) < n {
		p.buf = append(p.buf, p.lx.next())
	}
	return p.buf[n-1]
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	p.lx.errorf(pos, format, args...)
}

// syntaxError reports the current token as unexpected.
func (p *parser) syntaxError(expected string) {
	p.errorf(p.tok.Pos, "syntax error: unexpected %s, expected %s", p.tok.describe(), expected)
}

func (p *parser) is(k TokKind) bool { return p.tok.Kind == k }

func (p *parser) isKw(words ...string) bool {
	if p.tok.Kind != KEYWORD {
		return false
	}
	for _, w := range words {
		if p.tok.Text == w {
			return true
		}
	}
	return false
}

// text takes a token of kind k and returns its text; otherwise it reports
// a syntax error (expected says what was expected) and returns false.
func (p *parser) text(k TokKind, expected string) (string, bool) {
	if p.tok.Kind != k {
		p.syntaxError(expected)
		return "", false
	}
	s := p.tok.Text
	p.advance()
	return s, true
}

func (p *parser) expect(k TokKind, context string) bool {
	if p.tok.Kind != k {
		p.syntaxError(k.String() + " " + context)
		return false
	}
	p.advance()
	return true
}

type bailout struct{}

func (p *parser) failed() bool { return p.lx.fatal }

// ---------------------------------------------------------------------------
// top level

func (p *parser) parseFile() *File {
	f := &File{}
	for !p.is(EOF) && !p.failed() {
		n := len(p.lx.errs)
		it := p.parseItem()
		if it != nil {
			f.Items = append(f.Items, it)
		} else if len(p.lx.errs) > n {
			p.recoverTop()
		}
	}
	return f
}

// recoverTop skips tokens to the start of the next top-level statement.
func (p *parser) recoverTop() {
	depth := 0
	line := p.tok.Line
	file := p.tok.Pos.File
	for !p.is(EOF) && !p.failed() {
		switch p.tok.Kind {
		case LBRACE:
			depth++
		case RBRACE:
			depth--
			if depth <= 0 {
				p.advance()
				if depth < 0 {
					return
				}
				continue
			}
		}
		if depth == 0 && (p.tok.Line != line || p.tok.Pos.File != file) && p.startsItem() {
			return
		}
		p.advance()
	}
}

func (p *parser) startsItem() bool {
	switch p.tok.Kind {
	case KEYWORD:
		switch p.tok.Text {
		case "loadmodule", "loadmodulex", "loadpath", "mpath", "modparam", "modparamx",
			"cfgengine", "flags", "bool", "avpflags", "route", "request_route",
			"failure_route", "reply_route", "onreply_route", "branch_route",
			"onsend_route", "event_route":
			return true
		}
		return p.peek(1).Kind == ASSIGN
	case IDENT:
		k := p.peek(1).Kind
		return k == ASSIGN || k == DOT
	}
	return false
}

func (p *parser) parseItem() Item {
	t := p.tok
	switch t.Kind {
	case SEMI:
		p.advance()
		return nil
	case KEYWORD:
		switch t.Text {
		case "loadmodule", "loadmodulex":
			p.advance()
			if !p.is(STRING) {
				p.syntaxError("a quoted module name after " + t.Text)
				return nil
			}
			it := &LoadModule{Pos: t.Pos, Path: p.tok.Text, X: t.Text == "loadmodulex"}
			p.advance()
			return it
		case "loadpath", "mpath":
			p.advance()
			if p.is(ASSIGN) {
				p.advance()
			}
			if !p.is(STRING) {
				p.syntaxError("a quoted directory after " + t.Text)
				return nil
			}
			it := &LoadPath{Pos: t.Pos, Path: p.tok.Text}
			p.advance()
			return it
		case "cfgengine":
			p.advance()
			if p.is(ASSIGN) {
				p.advance()
			}
			if !p.is(STRING) {
				p.syntaxError("a quoted engine name after cfgengine")
				return nil
			}
			it := &CfgEngine{Pos: t.Pos, Name: p.tok.Text}
			p.advance()
			return it
		case "modparam", "modparamx":
			return p.parseModParam()
		case "flags", "bool":
			return p.parseFlags()
		case "avpflags":
			return p.parseAvpFlags()
		case "route", "request_route", "failure_route", "reply_route", "onreply_route",
			"branch_route", "onsend_route", "event_route":
			return p.parseRoute()
		case "kemi":
			if p.peek(1).Kind == DOT {
				return p.parseCfgVar()
			}
		case "default":
			if p.peek(1).Kind == DOT || p.peek(1).Kind == LBRACK {
				return p.parseCfgVar()
			}
		}
		if p.peek(1).Kind == ASSIGN {
			return p.parseCoreParam()
		}
	case IDENT:
		switch p.peek(1).Kind {
		case ASSIGN:
			return p.parseCoreParam()
		case DOT, LBRACK:
			return p.parseCfgVar()
		}
	}
	p.syntaxError("a global parameter (name=value), loadmodule, modparam or a route block")
	return nil
}

func (p *parser) parseModParam() Item {
	t := p.tok
	p.advance()
	it := &ModParam{Pos: t.Pos, X: t.Text == "modparamx"}
	if !p.expect(LPAREN, "after "+t.Text) {
		return nil
	}
	var ok bool
	if it.Module, ok = p.text(STRING, "the module name as a quoted string"); !ok {
		return nil
	}
	if !p.expect(COMMA, "after the module name") {
		return nil
	}
	if it.Param, ok = p.text(STRING, "the parameter name as a quoted string"); !ok {
		return nil
	}
	if !p.expect(COMMA, "after the parameter name") {
		return nil
	}
	it.ValuePos = p.tok.Pos
	switch {
	case p.is(STRING):
		it.Str = p.tok.Text
		p.advance()
	case p.is(NUMBER):
		it.IsInt, it.Int = true, p.tok.Int
		p.advance()
	case p.is(MINUS) && p.peek(1).Kind == NUMBER:
		p.advance()
		it.IsInt, it.Int = true, -p.tok.Int
		p.advance()
	case p.is(PVAR) && it.X:
		it.PV = p.tok.Text
		p.advance()
	default:
		p.syntaxError("the parameter value (a quoted string or a number)")
		return nil
	}
	if !p.expect(RPAREN, "to close "+t.Text+"(...)") {
		return nil
	}
	return it
}

func (p *parser) flagName() (string, bool) {
	if p.is(STRING) || p.is(IDENT) {
		n := p.tok.Text
		p.advance()
		return n, true
	}
	return "", false
}

func (p *parser) parseFlags() Item {
	t := p.tok
	p.advance()
	it := &FlagsDecl{Pos: t.Pos}
	for {
		fp := p.tok.Pos
		name, ok := p.flagName()
		if !ok {
			p.syntaxError("a flag name")
			return nil
		}
		fd := FlagDef{Pos: fp, Name: name, Bit: -1}
		if p.is(COLON) {
			p.advance()
			if !p.is(NUMBER) {
				p.syntaxError("a flag number after ':'")
				return nil
			}
			fd.Bit = int(p.tok.Int)
			p.advance()
		}
		it.Flags = append(it.Flags, fd)
		if !p.is(COMMA) {
			break
		}
		p.advance()
	}
	return it
}

func (p *parser) parseAvpFlags() Item {
	t := p.tok
	p.advance()
	it := &AvpFlagsDecl{Pos: t.Pos}
	for {
		name, ok := p.flagName()
		if !ok {
			p.syntaxError("an avp flag name")
			return nil
		}
		it.Names = append(it.Names, name)
		if !p.is(COMMA) {
			break
		}
		p.advance()
	}
	return it
}

func (p *parser) parseCfgVar() Item {
	t := p.tok
	it := &CfgVar{Pos: t.Pos, Group: t.Text, Instance: -1}
	p.advance()
	if p.is(LBRACK) {
		p.advance()
		if !p.is(NUMBER) {
			p.syntaxError("a group instance number")
			return nil
		}
		it.Instance = int(p.tok.Int)
		p.advance()
		if !p.expect(RBRACK, "after the group instance") {
			return nil
		}
	}
	if !p.expect(DOT, "between the cfg group and variable names") {
		return nil
	}
	switch {
	case p.is(IDENT), p.isKw("default"), p.is(KEYWORD) && it.Group == "kemi":
		it.Name = p.tok.Text
		p.advance()
	default:
		p.syntaxError("a cfg variable name (an identifier; numbers and reserved words are not allowed)")
		return nil
	}
	if !p.expect(ASSIGN, "after the cfg variable name") {
		return nil
	}
	switch {
	case p.is(NUMBER):
		it.Int = p.tok.Int
	case p.is(STRING):
		it.IsString, it.Str = true, p.tok.Text
	default:
		p.syntaxError("a number or a string as the cfg variable value")
		return nil
	}
	p.advance()
	if p.is(KEYWORD) && keywords[p.tok.Text] == kwDesc {
		p.advance()
		var ok bool
		if it.Desc, ok = p.text(STRING, "a quoted description after desc"); !ok {
			return nil
		}
	}
	return it
}

// ---------------------------------------------------------------------------
// core parameters

func (p *parser) parseCoreParam() Item {
	t := p.tok
	p.advance() // name
	p.advance() // '='
	it := &CoreParam{Pos: t.Pos, Name: t.Text}
	def := LookupCoreParam(t.Text)
	v, ok := p.parseParamValue(t, def)
	if !ok {
		return nil
	}
	it.Value = v
	return it
}

func (p *parser) intno() (int64, bool) {
	if p.is(NUMBER) {
		v := p.tok.Int
		p.advance()
		return v, true
	}
	if p.is(MINUS) && p.peek(1).Kind == NUMBER {
		p.advance()
		v := -p.tok.Int
		p.advance()
		return v, true
	}
	return 0, false
}

func (p *parser) parseParamValue(name Token, def *CoreParamDef) (ParamValue, bool) {
	v := ParamValue{Pos: p.tok.Pos}
	startLine := name.Line
	bad := func(what string) (ParamValue, bool) {
		p.errorf(p.tok.Pos, "%s: unexpected %s, expected %s", name.Text, p.tok.describe(), what)
		return v, false
	}
	if def == nil {
		// unknown name: take a plausible value; CheckCoreParams reports it
		switch {
		case p.is(STRING):
			v.Kind, v.Str, v.Raw = ValString, p.tok.Text, p.tok.Raw
			p.advance()
		case p.is(NUMBER) || p.is(MINUS):
			n, ok := p.intno()
			if !ok {
				return bad("a value")
			}
			v.Kind, v.Int, v.Raw = ValInt, n, strconv.FormatInt(n, 10)
		default:
			v.Kind = ValIdent
			v.Raw = p.rawLine(startLine)
			v.Str = v.Raw
		}
		return v, true
	}
	switch def.Kind {
	case PNum:
		if !p.is(NUMBER) {
			return bad("a number (or yes/no)")
		}
		v.Kind, v.Int, v.Raw = ValInt, p.tok.Int, p.tok.Raw
		p.advance()
	case PInt:
		n, ok := p.intno()
		if !ok {
			return bad("a number")
		}
		v.Kind, v.Int, v.Raw = ValInt, n, strconv.FormatInt(n, 10)
	case PStr:
		if !p.is(STRING) {
			return bad("a quoted string")
		}
		v.Kind, v.Str, v.Raw = ValString, p.tok.Text, p.tok.Raw
		p.advance()
	case PStrOrID, PID, PNumOrID:
		switch {
		case p.is(STRING) && def.Kind == PStrOrID:
			v.Kind, v.Str = ValString, p.tok.Text
		case p.is(NUMBER) && def.Kind == PNumOrID:
			v.Kind, v.Int = ValInt, p.tok.Int
		case p.is(IDENT) || p.is(KEYWORD) || p.is(NUMID):
			v.Kind, v.Str = ValIdent, p.tok.Text
		default:
			return bad(def.Kind.String())
		}
		v.Raw = p.tok.Raw
		p.advance()
	case PProto:
		if p.is(STAR) || p.is(KEYWORD) && keywords[p.tok.Text] == kwProto {
			v.Kind, v.Str, v.Raw = ValProto, strings.ToLower(p.tok.Text), p.tok.Raw
			p.advance()
		} else {
			return bad(def.Kind.String())
		}
	case PTLSMethod:
		if p.is(KEYWORD) && keywords[p.tok.Text] == kwTLS {
			v.Kind, v.Str, v.Raw = ValIdent, strings.ToLower(p.tok.Text), p.tok.Raw
			p.advance()
		} else {
			return bad(def.Kind.String())
		}
	case PIPv4, PIPv6:
		raw := p.rawLine(startLine)
		if raw == "" {
			return bad(def.Kind.String())
		}
		v.Kind, v.Str, v.Raw = ValIP, raw, raw
	case PHost:
		h, ok := p.listenID()
		if !ok {
			return bad("a host name or an IP address")
		}
		v.Kind, v.Str, v.Raw = ValIdent, h, h
	case PListen, PSockets:
		socks, ok := p.socketList(name.Text, startLine)
		if !ok {
			return v, false
		}
		v.Kind, v.Sockets = ValSockets, socks
		var raws []string
		for _, s := range socks {
			raws = append(raws, s.Raw)
		}
		v.Raw = strings.Join(raws, " ")
		if def.Kind == PListen {
			if !p.listenOptions(&v, name.Text) {
				return v, false
			}
		}
	}
	return v, true
}

// rawLine collects the raw text of the tokens left on the given line.
func (p *parser) rawLine(line int) string {
	var b strings.Builder
	for !p.is(EOF) && p.tok.Line == line && !p.is(SEMI) {
		if p.tok.Spaced && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.tok.Raw)
		p.advance()
	}
	return b.String()
}

func isProtoTok(t Token) bool {
	return t.Kind == STAR || t.Kind == KEYWORD && keywords[t.Text] == kwProto
}

// listenID reads a host: an IP address, a quoted string, a host or
// interface name (labels joined by '.' or '-'), or a bracketed IPv6
// address.
func (p *parser) listenID() (string, bool) {
	switch {
	case p.is(STRING):
		s := p.tok.Text
		p.advance()
		return s, true
	case p.is(LBRACK):
		var b strings.Builder
		b.WriteByte('[')
		p.advance()
		for !p.is(RBRACK) {
			if p.is(EOF) || p.is(SEMI) {
				p.syntaxError("']' to close the IPv6 address")
				return "", false
			}
			b.WriteString(p.tok.Raw)
			p.advance()
		}
		b.WriteByte(']')
		p.advance()
		return b.String(), true
	}
	part := func() (string, bool) {
		switch p.tok.Kind {
		case IDENT, NUMID, NUMBER:
			s := p.tok.Raw
			p.advance()
			return s, true
		case KEYWORD:
			// host labels that happen to be keywords (e.g. "tls" in a name)
			if keywords[p.tok.Text] == kwProto || keywords[p.tok.Text] == kwParam {
				s := p.tok.Raw
				p.advance()
				return s, true
			}
		}
		return "", false
	}
	s, ok := part()
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString(s)
	for (p.is(DOT) || p.is(MINUS)) && !p.tok.Spaced {
		sep := p.tok.Raw
		nt := p.peek(1)
		if nt.Spaced || !(nt.Kind == IDENT || nt.Kind == NUMID || nt.Kind == NUMBER || nt.Kind == KEYWORD) {
			break
		}
		p.advance()
		s, ok := part()
		if !ok {
			p.syntaxError("a host name part after '" + sep + "'")
			return "", false
		}
		b.WriteString(sep)
		b.WriteString(s)
	}
	return b.String(), true
}

// socket reads [proto:]host[:port] where host may be (h1, h2).
func (p *parser) socket(param string) (Socket, bool) {
	so := Socket{Pos: p.tok.Pos}
	var raw strings.Builder
	if isProtoTok(p.tok) && p.peek(1).Kind == COLON {
		so.Proto = strings.ToLower(p.tok.Text)
		raw.WriteString(p.tok.Raw + ":")
		p.advance()
		p.advance()
	}
	if p.is(LPAREN) {
		p.advance()
		raw.WriteByte('(')
		for {
			h, ok := p.listenID()
			if !ok {
				p.syntaxError("a host name or IP address")
				return so, false
			}
			so.Hosts = append(so.Hosts, h)
			raw.WriteString(h)
			if p.is(COMMA) {
				raw.WriteString(", ")
				p.advance()
				continue
			}
			break
		}
		if !p.expect(RPAREN, "to close the address list") {
			return so, false
		}
		raw.WriteByte(')')
	} else {
		h, ok := p.listenID()
		if !ok {
			p.errorf(p.tok.Pos, "%s: unexpected %s, expected [proto:]host[:port]", param, p.tok.describe())
			return so, false
		}
		so.Hosts = []string{h}
		raw.WriteString(h)
	}
	if p.is(COLON) {
		p.advance()
		switch {
		case p.is(NUMBER):
			so.Port = int(p.tok.Int)
			so.PortSet = true
			raw.WriteString(":" + p.tok.Raw)
			p.advance()
		case p.is(STAR):
			raw.WriteString(":*")
			p.advance()
		default:
			p.errorf(p.tok.Pos, "%s: unexpected %s, expected a port number", param, p.tok.describe())
			return so, false
		}
	}
	so.Raw = raw.String()
	return so, true
}

func (p *parser) socketList(param string, line int) ([]Socket, bool) {
	var out []Socket
	for {
		so, ok := p.socket(param)
		if !ok {
			return nil, false
		}
		out = append(out, so)
		t := p.tok
		if t.Line != line || t.Kind == EOF {
			break
		}
		if t.Kind == STRING || t.Kind == IDENT || t.Kind == NUMID || t.Kind == NUMBER ||
			t.Kind == LBRACK || t.Kind == LPAREN || isProtoTok(t) {
			continue
		}
		break
	}
	return out, true
}

func (p *parser) listenOptions(v *ParamValue, param string) bool {
	if p.isKw("advertise", "ADVERTISE") {
		p.advance()
		so := Socket{Pos: p.tok.Pos}
		h, ok := p.listenID()
		if !ok {
			p.errorf(p.tok.Pos, "%s: unexpected %s, expected the advertised host after 'advertise'", param, p.tok.describe())
			return false
		}
		so.Hosts = []string{h}
		so.Raw = h
		if p.is(COLON) {
			p.advance()
			if !p.is(NUMBER) {
				p.errorf(p.tok.Pos, "%s: unexpected %s, expected the advertised port", param, p.tok.describe())
				return false
			}
			so.Port = int(p.tok.Int)
			so.Raw += ":" + p.tok.Raw
			p.advance()
		}
		v.Advertise = &so
	}
	if p.isKw("name", "NAME") {
		p.advance()
		if !p.is(STRING) {
			p.errorf(p.tok.Pos, "%s: unexpected %s, expected a quoted socket name after 'name'", param, p.tok.describe())
			return false
		}
		v.SocketName = p.tok.Text
		p.advance()
	}
	if p.isKw("virtual") {
		v.Virtual = true
		p.advance()
	}
	return true
}

// ---------------------------------------------------------------------------
// routes

func (p *parser) parseRoute() Item {
	t := p.tok
	p.advance()
	r := &Route{Pos: t.Pos, Keyword: t.Text}
	switch t.Text {
	case "route", "request_route":
		r.Kind = RequestRoute
	case "failure_route":
		r.Kind = FailureRoute
	case "reply_route":
		r.Kind = ReplyRoute
	case "onreply_route":
		r.Kind = ReplyRoute
	case "branch_route":
		r.Kind = BranchRoute
	case "onsend_route":
		r.Kind = OnSendRoute
	case "event_route":
		r.Kind = EventRoute
	}
	if r.Kind == EventRoute {
		if !p.expect(LBRACK, "after event_route") {
			return nil
		}
		var ok bool
		if r.Name, ok = p.text(EVNAME, "an event route name like module:event"); !ok {
			return nil
		}
		if !p.expect(RBRACK, "after the event route name") {
			return nil
		}
	} else if p.is(LBRACK) {
		if t.Text == "request_route" || t.Text == "reply_route" {
			p.syntaxError("'{' (" + t.Text + " takes no name)")
			return nil
		}
		p.advance()
		switch p.tok.Kind {
		case NUMBER, IDENT, STRING:
			r.Name = p.tok.Text
			if p.is(NUMBER) {
				r.Name = strconv.FormatInt(p.tok.Int, 10)
			}
		default:
			p.syntaxError("a route name (number, identifier or quoted string)")
			return nil
		}
		p.advance()
		if !p.expect(RBRACK, "after the route name") {
			return nil
		}
		if t.Text == "onreply_route" {
			if r.Name == "0" {
				r.Name = ""
			} else {
				r.Kind = OnReplyRoute
			}
		}
		if t.Text == "route" && r.Name == "0" {
			// route[0] is the main request route in Kamailio
			r.Name = ""
		}
	}
	if !p.is(LBRACE) {
		p.syntaxError("'{' to start the " + t.Text + " block")
		return nil
	}
	r.Body = p.parseBlock()
	return r
}

// parseBlock parses { statements }.
func (p *parser) parseBlock() *Block {
	b := &Block{Pos: p.tok.Pos}
	p.advance() // '{'
	for !p.is(RBRACE) {
		if p.is(EOF) || p.failed() {
			p.errorf(b.Pos, "syntax error: '{' is not closed: expected '}' before end of file")
			return b
		}
		n := len(p.lx.errs)
		s := p.parseStmt()
		if s != nil {
			b.Stmts = append(b.Stmts, s)
		}
		if len(p.lx.errs) > n {
			p.recoverStmt()
		}
	}
	p.advance() // '}'
	return b
}

// recoverStmt skips to just after the next ';' (or before the '}') at the
// current nesting level.
func (p *parser) recoverStmt() {
	depth := 0
	for !p.is(EOF) && !p.failed() {
		switch p.tok.Kind {
		case LBRACE:
			depth++
		case RBRACE:
			if depth == 0 {
				return
			}
			depth--
			if depth == 0 {
				p.advance()
				return
			}
		case SEMI:
			if depth == 0 {
				p.advance()
				return
			}
		}
		p.advance()
	}
}

// parseBody parses the statement after if/else/while: a block or a single
// action.
func (p *parser) parseBody() Stmt {
	if p.is(LBRACE) {
		return p.parseBlock()
	}
	return p.parseStmt()
}

func (p *parser) parseStmt() Stmt {
	t := p.tok
	switch t.Kind {
	case SEMI:
		p.advance()
		return &Empty{Pos: t.Pos}
	case LBRACE:
		return p.parseBlock()
	case KEYWORD:
		switch t.Text {
		case "if":
			return p.parseIf()
		case "switch":
			return p.parseSwitch()
		case "while":
			p.advance()
			cond := p.parseExpr()
			if cond == nil {
				return nil
			}
			body := p.parseBody()
			if body == nil {
				return nil
			}
			return &While{Pos: t.Pos, Cond: cond, Body: body}
		case "return", "exit", "drop", "break":
			s := p.parseFlow()
			if s == nil {
				return nil
			}
			if !p.expectSemi(t.Text) {
				return nil
			}
			return s
		case "else":
			p.syntaxError("a statement ('else' without 'if')")
			return nil
		case "case", "default":
			p.syntaxError("a statement ('" + t.Text + "' outside switch)")
			return nil
		}
	case PVAR, AVPATTR:
		if p.peek(1).Kind == ASSIGN {
			a := p.parseAssign()
			if a == nil {
				return nil
			}
			if !p.expectSemi("assignment") {
				return nil
			}
			return a
		}
		if p.peek(1).Kind == ADDEQ {
			p.advance()
			p.errorf(p.tok.Pos, "syntax error: '+=' is not supported by Kamailio, use $x = $x + value")
			return nil
		}
	}
	e := p.parseExpr()
	if e == nil {
		return nil
	}
	switch e.(type) {
	case *CallExpr, *RouteCall:
	default:
		p.errorf(e.Position(), "syntax error: expected a statement (function call, assignment, if, switch, while, return ...), found an expression")
		return nil
	}
	if !p.expectSemi("function call") {
		return nil
	}
	return &ExprStmt{Pos: e.Position(), Expr: e}
}

func (p *parser) expectSemi(what string) bool {
	if p.is(SEMI) {
		p.advance()
		return true
	}
	p.errorf(p.tok.Pos, "syntax error: unexpected %s, expected ';' after the %s (missing ';'?)", p.tok.describe(), what)
	return false
}

func (p *parser) parseAssign() *Assign {
	lt := p.tok
	var lhs Expr
	if lt.Kind == PVAR {
		pv, ok := p.pvExpr(lt)
		if !ok {
			return nil
		}
		lhs = pv
	} else {
		lhs = &AvpAttr{Pos: lt.Pos, Text: lt.Text}
	}
	p.advance() // lhs
	p.advance() // '='
	rhs := p.parseExpr()
	if rhs == nil {
		return nil
	}
	return &Assign{Pos: lt.Pos, LHS: lhs, RHS: rhs}
}

func (p *parser) parseIf() Stmt {
	t := p.tok
	p.advance()
	cond := p.parseExpr()
	if cond == nil {
		return nil
	}
	then := p.parseBody()
	if then == nil {
		return nil
	}
	s := &If{Pos: t.Pos, Cond: cond, Then: then}
	if p.isKw("else") {
		p.advance()
		els := p.parseBody()
		if els == nil {
			return nil
		}
		s.Else = els
	}
	return s
}

func (p *parser) parseSwitch() Stmt {
	t := p.tok
	p.advance()
	e := p.parseExpr()
	if e == nil {
		return nil
	}
	if !p.is(LBRACE) {
		p.syntaxError("'{' to start the switch body")
		return nil
	}
	p.advance()
	sw := &Switch{Pos: t.Pos, Expr: e}
	var cur *Case
	for !p.is(RBRACE) {
		if p.is(EOF) || p.failed() {
			p.errorf(t.Pos, "syntax error: switch body is not closed: expected '}'")
			return nil
		}
		if p.isKw("case") || p.isKw("default") {
			ct := p.tok
			p.advance()
			c := &Case{Pos: ct.Pos}
			if ct.Text == "case" {
				if p.is(SLASH) {
					c.Regex = true
					p.advance()
				}
				c.Label = p.parseExpr()
				if c.Label == nil {
					return nil
				}
			}
			if !p.expect(COLON, "after the case label") {
				return nil
			}
			sw.Cases = append(sw.Cases, c)
			cur = c
			continue
		}
		if cur == nil {
			p.syntaxError("'case' or 'default' in the switch body")
			return nil
		}
		n := len(p.lx.errs)
		s := p.parseStmt()
		if s != nil {
			cur.Body = append(cur.Body, s)
		}
		if len(p.lx.errs) > n {
			p.recoverStmt()
		}
	}
	p.advance()
	return sw
}

func (p *parser) parseFlow() Stmt {
	t := p.tok
	p.advance()
	f := &Flow{Pos: t.Pos}
	switch t.Text {
	case "return":
		f.Kind = FlowReturn
	case "exit":
		f.Kind = FlowExit
	case "drop":
		f.Kind = FlowDrop
	case "break":
		f.Kind = FlowBreak
		return f
	}
	if p.is(SEMI) || p.is(RBRACE) || p.is(EOF) {
		return f // a missing ';' is reported by the caller
	}
	if p.is(LPAREN) && p.peek(1).Kind == RPAREN {
		p.advance()
		p.advance()
		return f
	}
	f.Value = p.parseExpr()
	if f.Value == nil {
		return nil
	}
	return f
}

// ---------------------------------------------------------------------------
// expressions

const (
	precLOr = iota + 1
	precLAnd
	precBOr
	precBAnd
	precBXor
	precLShift
	precRShift
	precEq
	precCmp
	precAdd
	precMul
)

var binOps = map[TokKind]struct {
	op   Op
	prec int
}{
	LOR: {OpLOr, precLOr}, LAND: {OpLAnd, precLAnd}, BOR: {OpBOr, precBOr},
	BAND: {OpBAnd, precBAnd}, BXOR: {OpBXor, precBXor}, LSHIFT: {OpLShift, precLShift},
	RSHIFT: {OpRShift, precRShift}, EQ: {OpEq, precEq}, NE: {OpNe, precEq},
	MATCH: {OpMatch, precEq}, INTEQ: {OpIEq, precEq}, INTNE: {OpINe, precEq},
	STREQ: {OpSEq, precEq}, STRNE: {OpSNe, precEq}, GT: {OpGt, precCmp},
	LT: {OpLt, precCmp}, GTE: {OpGte, precCmp}, LTE: {OpLte, precCmp},
	PLUS: {OpPlus, precAdd}, MINUS: {OpMinus, precAdd}, STAR: {OpMul, precMul},
	SLASH: {OpDiv, precMul}, MOD: {OpMod, precMul},
}

// parseExpr parses a full expression (Kamailio's rval_expr).
func (p *parser) parseExpr() Expr { return p.parseBinary(precLOr) }

func (p *parser) parseBinary(minPrec int) Expr {
	left := p.parseUnary()
	if left == nil {
		return nil
	}
	for {
		bo, ok := binOps[p.tok.Kind]
		if !ok || bo.prec < minPrec {
			return left
		}
		opTok := p.tok
		p.advance()
		right := p.parseBinary(bo.prec + 1)
		if right == nil {
			if !p.failed() && len(p.lx.errs) == 0 {
				p.errorf(opTok.Pos, "syntax error: expected an expression after %s", opTok.Kind)
			}
			return nil
		}
		left = &Binary{Pos: left.Position(), Op: bo.op, L: left, R: right}
	}
}

func (p *parser) parseUnary() Expr {
	t := p.tok
	var op Op
	switch t.Kind {
	case NOT:
		op = OpNot
	case BNOT:
		op = OpBNot
	case MINUS:
		if p.peek(1).Kind == NUMBER {
			p.advance()
			v := p.tok
			p.advance()
			return &IntLit{Pos: t.Pos, V: -v.Int, Text: "-" + v.Raw}
		}
		op = OpNeg
	case DEFINED:
		op = OpDefined
	case INTCAST:
		op = OpIntCast
	case STRCAST:
		op = OpStrCast
	default:
		return p.parsePrimary()
	}
	p.advance()
	x := p.parseUnary()
	if x == nil {
		return nil
	}
	return &Unary{Pos: t.Pos, Op: op, X: x}
}

func (p *parser) pvExpr(t Token) (*PVExpr, bool) {
	spec, n, err := ParsePV(t.Text)
	if err == nil && n != len(t.Text) {
		err = fmt.Errorf("unexpected %q after the pseudo-variable %s", t.Text[n:], t.Text[:n])
	}
	if err != nil {
		p.errorf(t.Pos, "%v", err)
		return nil, false
	}
	spec.Pos = t.Pos
	return &PVExpr{Pos: t.Pos, Spec: spec}, true
}

func (p *parser) parsePrimary() Expr {
	t := p.tok
	switch t.Kind {
	case NUMBER:
		p.advance()
		return &IntLit{Pos: t.Pos, V: t.Int, Text: t.Raw}
	case STRING:
		p.advance()
		return &StrLit{Pos: t.Pos, V: t.Text}
	case PVAR:
		pv, ok := p.pvExpr(t)
		if !ok {
			return nil
		}
		p.advance()
		return pv
	case AVPATTR:
		p.advance()
		return &AvpAttr{Pos: t.Pos, Text: t.Text}
	case SELECT:
		p.advance()
		return &SelectExpr{Pos: t.Pos, Text: t.Text}
	case LPAREN:
		if k := p.peek(1).Kind; (k == PVAR || k == AVPATTR) && p.peek(2).Kind == ASSIGN {
			p.advance()
			a := p.parseAssign()
			if a == nil {
				return nil
			}
			if !p.expect(RPAREN, "after the assignment") {
				return nil
			}
			return &AssignExpr{Pos: t.Pos, Assign: a}
		}
		p.advance()
		e := p.parseExpr()
		if e == nil {
			return nil
		}
		if !p.expect(RPAREN, "to close '('") {
			return nil
		}
		return e
	case LBRACE:
		b := p.parseBlock()
		return &BlockExpr{Pos: t.Pos, Body: b}
	case STRLEN, STREMPTY:
		p.advance()
		if !p.expect(LPAREN, "after "+t.Text) {
			return nil
		}
		x := p.parseExpr()
		if x == nil {
			return nil
		}
		if !p.expect(RPAREN, "to close "+t.Text+"(") {
			return nil
		}
		op := OpStrLen
		if t.Kind == STREMPTY {
			op = OpStrEmpty
		}
		return &Unary{Pos: t.Pos, Op: op, X: x}
	case SELVAL:
		p.advance()
		if !p.expect(LPAREN, "after selval") {
			return nil
		}
		var args [3]Expr
		for i := range args {
			args[i] = p.parseExpr()
			if args[i] == nil {
				return nil
			}
			if i < 2 && !p.expect(COMMA, "between the selval arguments") {
				return nil
			}
		}
		if !p.expect(RPAREN, "to close selval(") {
			return nil
		}
		return &SelVal{Pos: t.Pos, Cond: args[0], A: args[1], B: args[2]}
	case IDENT:
		if p.peek(1).Kind == LPAREN {
			return p.parseCall()
		}
		p.errorf(t.Pos, "syntax error: unexpected identifier %q: a function call needs '(' ... ')', a string needs quotes (or %s is an undefined #!define)", t.Text, t.Text)
		return nil
	case KEYWORD:
		switch keywords[t.Text] {
		case kwExpr:
			return p.parseKeywordCond()
		case kwAction:
			return p.parseCoreAction()
		}
		if t.Text == "route" {
			return p.parseRouteCall()
		}
		p.errorf(t.Pos, "syntax error: unexpected keyword %q, expected an expression", t.Text)
		return nil
	case EOF:
		p.errorf(t.Pos, "syntax error: unexpected end of file, expected an expression")
		return nil
	}
	p.syntaxError("an expression")
	return nil
}

// parseCall parses name(args) for module functions.
func (p *parser) parseCall() Expr {
	t := p.tok
	p.advance() // name
	p.advance() // '('
	c := &CallExpr{Pos: t.Pos, NamePos: t.Pos, Name: t.Text, Parens: true}
	if p.is(RPAREN) {
		p.advance()
		return c
	}
	for {
		a := p.parseArg()
		if a == nil {
			return nil
		}
		c.Args = append(c.Args, a)
		if p.is(COMMA) {
			p.advance()
			continue
		}
		if !p.is(RPAREN) {
			p.syntaxError("',' or ')' in the arguments of " + t.Text + "()")
			return nil
		}
		p.advance()
		return c
	}
}

// parseArg parses one function argument: an expression, or a bare word
// (kept as a RawArg for the compiler to judge).
func (p *parser) parseArg() Expr {
	if (p.is(IDENT) || p.is(NUMID)) && (p.peek(1).Kind == COMMA || p.peek(1).Kind == RPAREN) {
		t := p.tok
		p.advance()
		return &RawArg{Pos: t.Pos, Text: t.Text}
	}
	return p.parseExpr()
}

func (p *parser) parseRouteCall() Expr {
	t := p.tok
	p.advance()
	if !p.expect(LPAREN, "after route (route(NAME) calls a route)") {
		return nil
	}
	rc := &RouteCall{Pos: t.Pos}
	switch {
	case (p.is(IDENT) || p.is(NUMID) || p.is(NUMBER)) && p.peek(1).Kind == RPAREN:
		rc.Name = p.tok.Text
		if p.is(NUMBER) {
			rc.Name = strconv.FormatInt(p.tok.Int, 10)
		}
		p.advance()
	case p.is(STRING) && p.peek(1).Kind == RPAREN:
		rc.Name = p.tok.Text
		p.advance()
	default:
		rc.Dyn = p.parseExpr()
		if rc.Dyn == nil {
			return nil
		}
	}
	if !p.expect(RPAREN, "to close route(") {
		return nil
	}
	return rc
}

// core actions that can be written without parentheses
var bareActions = map[string]bool{
	"revert_uri": true, "set_forward_no_connect": true, "set_reply_no_connect": true,
	"set_forward_close": true, "set_reply_close": true,
	"force_rport": true, "add_rport": true, "add_local_rport": true,
}

// core actions whose arguments use host/socket syntax
var rawArgActions = map[string]bool{
	"forward": true, "forward_tcp": true, "forward_udp": true, "forward_tls": true,
	"forward_sctp": true, "force_send_socket": true, "set_advertised_address": true,
	"udp_mtu_try_proto": true,
}

func (p *parser) parseCoreAction() Expr {
	t := p.tok
	p.advance()
	c := &CallExpr{Pos: t.Pos, NamePos: t.Pos, Name: t.Text}
	if !p.is(LPAREN) {
		if bareActions[t.Text] {
			return c
		}
		p.errorf(p.tok.Pos, "syntax error: unexpected %s, expected '(' after %s", p.tok.describe(), t.Text)
		return nil
	}
	c.Parens = true
	p.advance()
	if p.is(RPAREN) {
		p.advance()
		return c
	}
	for {
		var a Expr
		if rawArgActions[t.Text] && !p.is(STRING) && !(p.is(NUMBER) && (p.peek(1).Kind == COMMA || p.peek(1).Kind == RPAREN)) {
			a = p.rawArg()
		} else {
			a = p.parseArg()
		}
		if a == nil {
			return nil
		}
		c.Args = append(c.Args, a)
		if p.is(COMMA) {
			p.advance()
			continue
		}
		if !p.expect(RPAREN, "in the arguments of "+t.Text+"()") {
			return nil
		}
		return c
	}
}

// rawArg collects the tokens of one argument up to ',' or ')' as text.
func (p *parser) rawArg() Expr {
	t := p.tok
	var b strings.Builder
	depth := 0
	for {
		if p.is(EOF) || p.is(SEMI) {
			p.syntaxError("')'")
			return nil
		}
		if depth == 0 && (p.is(COMMA) || p.is(RPAREN)) {
			break
		}
		switch p.tok.Kind {
		case LPAREN:
			depth++
		case RPAREN:
			depth--
		}
		if p.tok.Spaced && b.Len() > 0 {
			b.WriteByte(' ')
		}
		if p.is(STRING) {
			b.WriteString(p.tok.Text)
		} else {
			b.WriteString(p.tok.Raw)
		}
		p.advance()
	}
	if b.Len() == 0 {
		p.syntaxError("an argument")
		return nil
	}
	return &RawArg{Pos: t.Pos, Text: b.String()}
}

var uriKeywords = map[string]bool{"uri": true, "status": true, "from_uri": true, "to_uri": true}
var ipKeywords = map[string]bool{"src_ip": true, "dst_ip": true, "snd_ip": true, "to_ip": true}
var intKeywords = map[string]bool{"src_port": true, "dst_port": true, "af": true, "msg:len": true,
	"snd_port": true, "to_port": true, "snd_af": true, "to_af": true}
var protoKeywords = map[string]bool{"proto": true, "snd_proto": true, "to_proto": true}

func strOp(k TokKind) (Op, bool) {
	switch k {
	case EQ, STREQ:
		return OpEq, true
	case NE, STRNE:
		return OpNe, true
	case MATCH:
		return OpMatch, true
	}
	return OpNone, false
}

func equalOp(k TokKind) (Op, bool) {
	switch k {
	case EQ, STREQ:
		return OpEq, true
	case NE, STRNE:
		return OpNe, true
	}
	return OpNone, false
}

func cmpOp(k TokKind) (Op, bool) {
	switch k {
	case GT:
		return OpGt, true
	case LT:
		return OpLt, true
	case GTE:
		return OpGte, true
	case LTE:
		return OpLte, true
	}
	return OpNone, false
}

// parseKeywordCond parses Kamailio's exp_elem forms.
func (p *parser) parseKeywordCond() Expr {
	t := p.tok
	kw := t.Text
	if kw == "uri:host" || kw == "uri:port" || kw == "max_len" {
		p.errorf(t.Pos, "syntax error: %q can only be used as an argument of forward()", kw)
		return nil
	}
	p.advance()
	kc := &KeywordCond{Pos: t.Pos, Keyword: kw}
	opTok := p.tok
	switch {
	case kw == "myself":
		op, ok := equalOp(p.tok.Kind)
		if !ok {
			p.syntaxError("'==' or '!=' after myself")
			return nil
		}
		p.advance()
		if p.tok.Kind != KEYWORD || !(uriKeywords[p.tok.Text] || ipKeywords[p.tok.Text]) {
			p.syntaxError("uri, from_uri, to_uri, src_ip or dst_ip after 'myself " + opTok.Raw + "'")
			return nil
		}
		kc.Keyword = p.tok.Text
		kc.Op = op
		kc.Myself = true
		p.advance()
		return kc
	case kw == "method":
		op, ok := strOp(p.tok.Kind)
		if !ok {
			p.syntaxError("'==', '!=' or '=~' after method")
			return nil
		}
		kc.Op = op
		p.advance()
		if p.is(IDENT) && p.peek(1).Kind != LPAREN {
			kc.Right = &StrLit{Pos: p.tok.Pos, V: p.tok.Text}
			p.advance()
			return kc
		}
	case uriKeywords[kw]:
		op, ok := strOp(p.tok.Kind)
		if !ok {
			p.syntaxError("'==', '!=' or '=~' after " + kw)
			return nil
		}
		kc.Op = op
		p.advance()
		if p.isKw("myself") {
			kc.Myself = true
			p.advance()
			return kc
		}
	case intKeywords[kw]:
		if op, ok := cmpOp(p.tok.Kind); ok {
			kc.Op = op
			p.advance()
			kc.Right = p.parseBinary(precCmp + 1)
			if kc.Right == nil {
				return nil
			}
			return kc
		}
		op, ok := equalOp(p.tok.Kind)
		if !ok {
			p.syntaxError("a comparison (==, !=, <, >, <=, >=) after " + kw)
			return nil
		}
		kc.Op = op
		p.advance()
	case protoKeywords[kw]:
		op, ok := equalOp(p.tok.Kind)
		if !ok {
			p.syntaxError("'==' or '!=' after " + kw)
			return nil
		}
		kc.Op = op
		p.advance()
		if isProtoTok(p.tok) {
			kc.Proto = strings.ToLower(p.tok.Text)
			p.advance()
			return kc
		}
	case ipKeywords[kw]:
		op, ok := strOp(p.tok.Kind)
		if !ok {
			p.syntaxError("'==', '!=' or '=~' after " + kw)
			return nil
		}
		kc.Op = op
		p.advance()
		switch {
		case p.isKw("myself"):
			kc.Myself = true
			p.advance()
			return kc
		case p.is(NUMBER) && p.peek(1).Kind == DOT, p.is(LBRACK):
			n := p.netLit()
			if n == nil {
				return nil
			}
			kc.Net = n
			return kc
		case p.is(IDENT) && p.peek(1).Kind != LPAREN:
			h, ok := p.listenID()
			if !ok {
				return nil
			}
			kc.Host = h
			return kc
		}
	default:
		p.errorf(t.Pos, "syntax error: unexpected keyword %q in an expression", kw)
		return nil
	}
	kc.Right = p.parseBinary(precEq + 1)
	if kc.Right == nil {
		return nil
	}
	return kc
}

// netLit reads an IP address with an optional /mask.
func (p *parser) netLit() *NetLit {
	n := &NetLit{Pos: p.tok.Pos}
	ip, ok := p.listenID()
	if !ok {
		p.syntaxError("an IP address")
		return nil
	}
	n.IP = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	n.Text = ip
	if p.is(SLASH) {
		p.advance()
		if p.is(NUMBER) && p.peek(1).Kind != DOT {
			n.Mask = p.tok.Raw
			p.advance()
		} else {
			m, ok := p.listenID()
			if !ok {
				p.syntaxError("a netmask (a bit count or an address)")
				return nil
			}
			n.Mask = m
		}
		n.Text += "/" + n.Mask
	}
	return n
}
