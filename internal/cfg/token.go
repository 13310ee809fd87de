package cfg

import "fmt"

// TokKind is the kind of a lexical token.
type TokKind int

// Token kinds. Keywords (route, if, loadmodule, debug, forward ...) are
// KEYWORD tokens whose Text is the keyword as written.
const (
	EOF TokKind = iota
	IDENT
	NUMID  // alphanumeric run that starts with a digit: 3des, 08
	NUMBER // 10, 0x1A, 017, 101b, yes/no/true/false/on/off, inet/inet6
	STRING
	PVAR    // $name, $name(inner), $(...); Text is the PV as written
	AVPATTR // SER-style attribute: %name, $f.name, $name[...]
	SELECT  // SER select: @a.b[1]
	EVNAME  // event route name inside event_route[...]
	KEYWORD

	LPAREN
	RPAREN
	LBRACE
	RBRACE
	LBRACK
	RBRACK
	COMMA
	SEMI
	COLON
	DOT
	SLASH
	STAR

	ASSIGN // =
	ADDEQ  // +=
	EQ     // ==
	NE     // !=
	MATCH  // =~
	GT
	LT
	GTE
	LTE
	NOT    // ! not
	LAND   // && and
	LOR    // || or
	BAND   // &
	BOR    // |
	BNOT   // ~
	BXOR   // ^
	LSHIFT // <<
	RSHIFT // >>
	PLUS
	MINUS
	MOD      // mod
	STREQ    // eq
	STRNE    // ne
	INTEQ    // ieq
	INTNE    // ine
	INTCAST  // (int)
	STRCAST  // (str)
	STRLEN   // strlen
	STREMPTY // strempty
	DEFINED  // defined
	SELVAL   // selval
)

var tokNames = map[TokKind]string{
	EOF: "end of file", IDENT: "identifier", NUMID: "identifier", NUMBER: "number",
	STRING: "string", PVAR: "pseudo-variable", AVPATTR: "attribute", SELECT: "select",
	EVNAME: "event route name", KEYWORD: "keyword",
	LPAREN: "'('", RPAREN: "')'", LBRACE: "'{'", RBRACE: "'}'", LBRACK: "'['",
	RBRACK: "']'", COMMA: "','", SEMI: "';'", COLON: "':'", DOT: "'.'", SLASH: "'/'",
	STAR: "'*'", ASSIGN: "'='", ADDEQ: "'+='", EQ: "'=='", NE: "'!='", MATCH: "'=~'",
	GT: "'>'", LT: "'<'", GTE: "'>='", LTE: "'<='", NOT: "'!'", LAND: "'&&'", LOR: "'||'",
	BAND: "'&'", BOR: "'|'", BNOT: "'~'", BXOR: "'^'", LSHIFT: "'<<'", RSHIFT: "'>>'",
	PLUS: "'+'", MINUS: "'-'", MOD: "'mod'", STREQ: "'eq'", STRNE: "'ne'", INTEQ: "'ieq'",
	INTNE: "'ine'", INTCAST: "'(int)'", STRCAST: "'(str)'", STRLEN: "'strlen'",
	STREMPTY: "'strempty'", DEFINED: "'defined'", SELVAL: "'selval'",
}

// String names the kind for error messages.
func (k TokKind) String() string {
	if s, ok := tokNames[k]; ok {
		return s
	}
	return fmt.Sprintf("token(%d)", int(k))
}

// Token is one lexical token.
type Token struct {
	Kind TokKind
	// Text is the identifier/keyword name, the unescaped string value, the
	// PV text as written, or the number as written.
	Text string
	Int  int64 // value of a NUMBER
	Pos  Pos
	// Raw is the source text of the token as written (strings with their
	// quotes), used to rebuild socket specifications.
	Raw string
	// Line is the physical line where the token starts in its file (for a
	// token produced by a #!define expansion, the line of the identifier).
	Line int
	// Spaced reports whether white space or a comment preceded the token.
	Spaced bool
}

func (t Token) describe() string {
	switch t.Kind {
	case EOF:
		return "end of file"
	case IDENT, NUMID, KEYWORD:
		return fmt.Sprintf("%q", t.Text)
	case NUMBER:
		return "number " + t.Raw
	case STRING:
		return fmt.Sprintf("string %q", t.Text)
	case PVAR, AVPATTR, SELECT, EVNAME:
		return t.Text
	}
	return t.Kind.String()
}

// Keyword classes, as Kamailio's lexer reserves them.
type kwClass uint8

const (
	kwStmt   kwClass = iota + 1 // if else switch ... route blocks
	kwTop                       // loadmodule, modparam ...
	kwExpr                      // method, uri, src_ip, myself ...
	kwAction                    // core actions: forward, setflag, log ...
	kwParam                     // global parameter names
	kwListen                    // advertise, name, virtual (listen= options)
	kwProto                     // udp tcp tls sctp ws wss
	kwTLS                       // sslv23 ...
	kwDesc                      // desc/descr/description
)

var opWords = map[string]TokKind{
	"and": LAND, "or": LOR, "not": NOT, "mod": MOD, "eq": STREQ, "ne": STRNE,
	"ieq": INTEQ, "ine": INTNE, "defined": DEFINED, "strlen": STRLEN,
	"strempty": STREMPTY, "selval": SELVAL,
}

var numberWords = map[string]int64{
	"yes": 1, "true": 1, "on": 1, "enable": 1,
	"no": 0, "false": 0, "off": 0, "disable": 0,
	"inet": 2, "INET": 2, "ipv4": 2, "IPv4": 2, "IPV4": 2,
	"inet6": 10, "INET6": 10, "ipv6": 10, "IPv6": 10, "IPV6": 10,
}

var keywords = map[string]kwClass{}

func addKw(c kwClass, words ...string) {
	for _, w := range words {
		keywords[w] = c
	}
}

func init() {
	addKw(kwStmt, "if", "else", "switch", "case", "default", "while", "break",
		"return", "exit", "drop", "route", "request_route", "failure_route",
		"reply_route", "onreply_route", "branch_route", "onsend_route", "event_route")
	addKw(kwTop, "loadmodule", "loadmodulex", "loadpath", "mpath", "modparam",
		"modparamx", "cfgengine", "flags", "bool", "avpflags", "kemi")
	addKw(kwListen, "advertise", "ADVERTISE", "name", "NAME", "virtual")
	addKw(kwDesc, "desc", "descr", "description")
	addKw(kwProto, "udp", "UDP", "tcp", "TCP", "tls", "TLS", "sctp", "SCTP",
		"ws", "WS", "wss", "WSS")
	addKw(kwTLS, "sslv23", "SSLv23", "SSLV23", "sslv2", "SSLv2", "SSLV2",
		"sslv3", "SSLv3", "SSLV3", "tlsv1", "TLSv1", "TLSV1")
	addKw(kwExpr, "method", "uri", "status", "from_uri", "to_uri", "src_ip",
		"src_port", "dst_ip", "dst_port", "snd_ip", "snd_port", "snd_proto",
		"to_proto", "snd_af", "to_af", "to_ip", "to_port", "proto", "af", "myself",
		"msg:len", "uri:host", "uri:port", "max_len")
	addKw(kwAction, "forward", "forward_tcp", "forward_udp", "forward_tls",
		"forward_sctp", "log", "error", "exec", "setflag", "resetflag", "isflagset",
		"setavpflag", "resetavpflag", "isavpflagset", "rewritehost", "sethost",
		"seth", "rewritehostport", "sethostport", "sethp", "rewritehostporttrans",
		"sethostporttrans", "sethpt", "rewriteuser", "setuser", "setu",
		"rewriteuserpass", "setuserpass", "setup", "rewriteport", "setport", "setp",
		"rewriteuri", "seturi", "revert_uri", "prefix", "strip", "strip_tail",
		"userphone", "remove_branch", "clear_branches", "force_rport", "add_rport",
		"add_local_rport", "force_tcp_alias", "add_tcp_alias",
		"udp_mtu_try_proto", "set_advertised_address", "set_advertised_port",
		"force_send_socket", "set_forward_no_connect", "set_reply_no_connect",
		"set_forward_close", "set_reply_close", "cfg_select", "cfg_reset")
	for _, p := range coreParams {
		for _, n := range p.Names {
			if _, ok := keywords[n]; !ok {
				keywords[n] = kwParam
			}
		}
	}
	// Names Kamailio's lexer reserves although no statement uses them.
	addKw(kwParam, "statistics", "local_rport", "onsend_route_callback",
		"reply_route_callback", "event_route_callback", "received_route_callback",
		"pre_routing_callback")
}

// IsReserved reports whether Kamailio's lexer treats word as a keyword (so
// that it is never replaced by a #!define and cannot name a function).
func IsReserved(word string) bool {
	if _, ok := keywords[word]; ok {
		return true
	}
	if _, ok := opWords[word]; ok {
		return true
	}
	_, ok := numberWords[word]
	return ok
}
