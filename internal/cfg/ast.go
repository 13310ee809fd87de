package cfg

// File is a parsed configuration: the top-level items in source order.
type File struct {
	// Name is the main file name given to Parse/ParseFile.
	Name string
	// Items are the top-level statements, in order, with included files
	// spliced in where they were included.
	Items []Item
	// Files lists every file read (the main file first, then includes).
	Files []string
	// Compat is the compatibility mode chosen by #!KAMAILIO/#!SER/...
	Compat Compat
	// Warnings are problems Kamailio also only warns about.
	Warnings []*Error
}

// Node is implemented by every AST node.
type Node interface {
	// Position returns where the node starts.
	Position() Pos
}

// Item is a top-level statement.
type Item interface {
	Node
	item()
}

// CoreParam is a global parameter assignment: debug=3, listen=udp:1.2.3.4:5060.
// The parser accepts any name; CheckCoreParams validates names and values
// against Kamailio's table.
type CoreParam struct {
	Pos   Pos
	Name  string
	Value ParamValue
}

// ParamValue is the value of a core parameter. Kind tells which field is
// set: ValInt (Int), ValString (Str), ValIdent (Str), ValSockets
// (Sockets, for listen= and alias=), ValIP (Str), ValProto (Str).
type ParamValue struct {
	Pos     Pos
	Kind    ValueKind
	Int     int64
	Str     string
	Sockets []Socket
	// Listen options (listen= only)
	Advertise  *Socket
	SocketName string
	Virtual    bool
	// Raw is the value as written (tokens joined as in the source).
	Raw string
}

// ValueKind tells what a ParamValue holds.
type ValueKind uint8

// Kinds of parameter values.
const (
	ValInt ValueKind = iota + 1
	ValString
	ValIdent
	ValSockets
	ValIP
	ValProto
)

func (k ValueKind) String() string {
	switch k {
	case ValInt:
		return "number"
	case ValString:
		return "string"
	case ValIdent:
		return "identifier"
	case ValSockets:
		return "socket"
	case ValIP:
		return "IP address"
	case ValProto:
		return "protocol"
	}
	return "value"
}

// Socket is one [proto:]host[:port] specification. Hosts has several
// entries for the multi-homed form (h1, h2):port. Port 0 means not given.
type Socket struct {
	Pos   Pos
	Proto string // "udp", "tcp", "tls", "sctp", "ws", "wss", "" or "*"
	Hosts []string
	Port  int
	// PortSet is true when the port was written, even as 0 (sipht reads
	// an explicit port 0 as "any free port"; Kamailio as the default port).
	PortSet bool
	Raw     string
}

// CfgVar is a custom configuration variable: group.name = value [desc "text"],
// or group[idx].name = value. Kamailio's kemi.* callbacks use this form too.
type CfgVar struct {
	Pos      Pos
	Group    string
	Instance int // -1 when no [idx]
	Name     string
	IsString bool
	Int      int64
	Str      string
	Desc     string
}

// LoadModule is loadmodule "path" (X for loadmodulex).
type LoadModule struct {
	Pos  Pos
	Path string
	X    bool
}

// LoadPath is loadpath "dir" / mpath="dir".
type LoadPath struct {
	Pos  Pos
	Path string
}

// ModParam is modparam("module", "param", value); X for modparamx.
// Module may be a regular expression ("auth_db|usrloc") as in Kamailio.
type ModParam struct {
	Pos    Pos
	Module string
	Param  string
	// Value is an int, a string or (modparamx only) a pseudo-variable.
	IsInt    bool
	Int      int64
	Str      string
	PV       string // modparamx with a PV value
	X        bool
	ValuePos Pos
}

// CfgEngine is cfgengine "name" (KEMI engine selection).
type CfgEngine struct {
	Pos  Pos
	Name string
}

// FlagsDecl declares named message flags: flags NAME[:bit], ...
type FlagsDecl struct {
	Pos   Pos
	Flags []FlagDef
}

// FlagDef is one named flag; Bit is -1 when not given.
type FlagDef struct {
	Pos  Pos
	Name string
	Bit  int
}

// AvpFlagsDecl declares AVP flag names (SER syntax).
type AvpFlagsDecl struct {
	Pos   Pos
	Names []string
}

// RouteKind is the kind of a route block.
type RouteKind uint8

// Route block kinds.
const (
	RequestRoute RouteKind = iota + 1 // request_route {} / route {} / route[name] (Name set)
	FailureRoute
	ReplyRoute   // reply_route {} / onreply_route {} / onreply_route[0] (core reply route)
	OnReplyRoute // onreply_route[name] (tm)
	BranchRoute
	OnSendRoute
	EventRoute
)

func (k RouteKind) String() string {
	switch k {
	case RequestRoute:
		return "request_route"
	case FailureRoute:
		return "failure_route"
	case ReplyRoute:
		return "reply_route"
	case OnReplyRoute:
		return "onreply_route"
	case BranchRoute:
		return "branch_route"
	case OnSendRoute:
		return "onsend_route"
	case EventRoute:
		return "event_route"
	}
	return "route"
}

// Route is a route block. For RequestRoute an empty Name is the main
// request_route and a non-empty Name is a sub-route route[Name]. Keyword is
// the block keyword as written.
type Route struct {
	Pos     Pos
	Kind    RouteKind
	Name    string
	Keyword string
	Body    *Block
}

func (*CoreParam) item()    {}
func (*CfgVar) item()       {}
func (*LoadModule) item()   {}
func (*LoadPath) item()     {}
func (*ModParam) item()     {}
func (*CfgEngine) item()    {}
func (*FlagsDecl) item()    {}
func (*AvpFlagsDecl) item() {}
func (*Route) item()        {}

// Position implementations.
func (n *CoreParam) Position() Pos    { return n.Pos }
func (n *CfgVar) Position() Pos       { return n.Pos }
func (n *LoadModule) Position() Pos   { return n.Pos }
func (n *LoadPath) Position() Pos     { return n.Pos }
func (n *ModParam) Position() Pos     { return n.Pos }
func (n *CfgEngine) Position() Pos    { return n.Pos }
func (n *FlagsDecl) Position() Pos    { return n.Pos }
func (n *AvpFlagsDecl) Position() Pos { return n.Pos }
func (n *Route) Position() Pos        { return n.Pos }

// ---------------------------------------------------------------------------
// Statements

// Stmt is a statement inside a route block.
type Stmt interface {
	Node
	stmt()
}

// Block is { stmts }.
type Block struct {
	Pos   Pos
	Stmts []Stmt
}

// ExprStmt is a function call (or route call) used as a statement.
type ExprStmt struct {
	Pos  Pos
	Expr Expr // *CallExpr or *RouteCall
}

// Assign is lhs = rhs. LHS is a *PVExpr or *AvpAttr.
type Assign struct {
	Pos Pos
	LHS Expr
	RHS Expr
}

// If is if cond then [else else].
type If struct {
	Pos  Pos
	Cond Expr
	Then Stmt // usually a *Block
	Else Stmt // nil, *Block or *If
}

// Switch is switch(expr) { case ...: ... default: ... }.
type Switch struct {
	Pos   Pos
	Expr  Expr
	Cases []*Case
}

// Case is one label of a switch with the statements that follow it (up to
// the next label). Label is nil for default:. Regex is true for case /"re":.
type Case struct {
	Pos   Pos
	Label Expr
	Regex bool
	Body  []Stmt
}

// While is while cond body.
type While struct {
	Pos  Pos
	Cond Expr
	Body Stmt
}

// FlowKind is the kind of a Flow statement.
type FlowKind uint8

// Flow statement kinds.
const (
	FlowReturn FlowKind = iota + 1
	FlowExit
	FlowDrop
	FlowBreak
)

func (k FlowKind) String() string {
	switch k {
	case FlowReturn:
		return "return"
	case FlowExit:
		return "exit"
	case FlowDrop:
		return "drop"
	case FlowBreak:
		return "break"
	}
	return "flow"
}

// Flow is return [expr], exit [expr], drop [expr] or break.
type Flow struct {
	Pos   Pos
	Kind  FlowKind
	Value Expr // nil when absent
}

// Empty is a lone ';'.
type Empty struct{ Pos Pos }

func (*Block) stmt()    {}
func (*ExprStmt) stmt() {}
func (*Assign) stmt()   {}
func (*If) stmt()       {}
func (*Switch) stmt()   {}
func (*While) stmt()    {}
func (*Flow) stmt()     {}
func (*Empty) stmt()    {}

// Position implementations.
func (n *Block) Position() Pos    { return n.Pos }
func (n *ExprStmt) Position() Pos { return n.Pos }
func (n *Assign) Position() Pos   { return n.Pos }
func (n *If) Position() Pos       { return n.Pos }
func (n *Switch) Position() Pos   { return n.Pos }
func (n *While) Position() Pos    { return n.Pos }
func (n *Flow) Position() Pos     { return n.Pos }
func (n *Empty) Position() Pos    { return n.Pos }

// ---------------------------------------------------------------------------
// Expressions

// Expr is an expression (Kamailio's rval_expr).
type Expr interface {
	Node
	expr()
}

// IntLit is an integer constant (decimal, hex, octal, binary, yes/no...).
type IntLit struct {
	Pos  Pos
	V    int64
	Text string
}

// StrLit is a string constant.
type StrLit struct {
	Pos Pos
	V   string
}

// PVExpr is a pseudo-variable reference.
type PVExpr struct {
	Pos  Pos
	Spec PVSpec
}

// AvpAttr is a SER-style attribute (%name, $f.name, $name[1]).
type AvpAttr struct {
	Pos  Pos
	Text string
}

// SelectExpr is a SER select (@via[1].branch).
type SelectExpr struct {
	Pos  Pos
	Text string
}

// Op is an expression operator.
type Op uint8

// Operators.
const (
	OpNone Op = iota
	// unary
	OpNot      // ! / not
	OpBNot     // ~
	OpNeg      // unary -
	OpDefined  // defined x
	OpStrLen   // strlen(x)
	OpStrEmpty // strempty(x)
	OpIntCast  // (int)
	OpStrCast  // (str)
	// binary
	OpPlus
	OpMinus
	OpMul
	OpDiv
	OpMod
	OpBOr
	OpBAnd
	OpBXor
	OpLShift
	OpRShift
	OpEq    // ==
	OpNe    // !=
	OpMatch // =~
	OpIEq   // ieq
	OpINe   // ine
	OpSEq   // eq
	OpSNe   // ne
	OpGt
	OpLt
	OpGte
	OpLte
	OpLAnd
	OpLOr
)

var opNames = [...]string{
	OpNone: "?", OpNot: "!", OpBNot: "~", OpNeg: "-", OpDefined: "defined",
	OpStrLen: "strlen", OpStrEmpty: "strempty", OpIntCast: "(int)", OpStrCast: "(str)",
	OpPlus: "+", OpMinus: "-", OpMul: "*", OpDiv: "/", OpMod: "mod", OpBOr: "|",
	OpBAnd: "&", OpBXor: "^", OpLShift: "<<", OpRShift: ">>", OpEq: "==", OpNe: "!=",
	OpMatch: "=~", OpIEq: "ieq", OpINe: "ine", OpSEq: "eq", OpSNe: "ne", OpGt: ">",
	OpLt: "<", OpGte: ">=", OpLte: "<=", OpLAnd: "&&", OpLOr: "||",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "?"
}

// Unary is op x.
type Unary struct {
	Pos Pos
	Op  Op
	X   Expr
}

// Binary is l op r.
type Binary struct {
	Pos Pos
	Op  Op
	L   Expr
	R   Expr
}

// SelVal is selval(cond, a, b).
type SelVal struct {
	Pos  Pos
	Cond Expr
	A, B Expr
}

// CallExpr is a function call name(args). Core actions with special
// argument syntax (forward(host, port), force_send_socket(proto:host:port)
// ...) have their unusual arguments as *RawArg.
type CallExpr struct {
	Pos     Pos
	Name    string
	Args    []Expr
	NamePos Pos
	// Parens is false for core actions written without parentheses
	// (revert_uri, set_forward_no_connect ...).
	Parens bool
}

// RouteCall is route(NAME) with a static name, or route(expr) with a name
// computed at run time (Dyn set).
type RouteCall struct {
	Pos  Pos
	Name string
	Dyn  Expr
}

// RawArg is a core-action argument written in host/socket syntax
// (10.0.0.1, udp:1.2.3.4:5060, uri:host, tcp).
type RawArg struct {
	Pos  Pos
	Text string
}

// KeywordCond is a comparison on a core keyword: method == "INVITE",
// uri =~ "^sip:", src_ip == 10.0.0.0/8, proto == udp, uri == myself,
// myself == uri, src_port > 5000, msg:len > 2048.
type KeywordCond struct {
	Pos     Pos
	Keyword string // method, uri, status, from_uri, to_uri, src_ip, dst_ip, src_port, dst_port, proto, af, msg:len, snd_ip ...
	Op      Op     // OpEq, OpNe, OpMatch, OpGt, OpLt, OpGte, OpLte (eq/ne are OpEq/OpNe)
	// Exactly one of the following is set.
	Myself bool
	Net    *NetLit // IP address or IP/mask
	Host   string  // host name written bare (src_ip == host.example.com)
	Proto  string  // proto == udp
	Right  Expr    // any other right operand
}

// NetLit is an IP address with an optional mask (/24 or /255.255.255.0).
type NetLit struct {
	Pos  Pos
	IP   string
	Mask string // "" when absent; a bit count or an address
	Text string
}

// BlockExpr is { actions } used as a value (its result is 1 if the last
// action returned > 0).
type BlockExpr struct {
	Pos  Pos
	Body *Block
}

// AssignExpr is (lhs = rhs) used as a value.
type AssignExpr struct {
	Pos    Pos
	Assign *Assign
}

func (*IntLit) expr()      {}
func (*StrLit) expr()      {}
func (*PVExpr) expr()      {}
func (*AvpAttr) expr()     {}
func (*SelectExpr) expr()  {}
func (*Unary) expr()       {}
func (*Binary) expr()      {}
func (*SelVal) expr()      {}
func (*CallExpr) expr()    {}
func (*RouteCall) expr()   {}
func (*RawArg) expr()      {}
func (*KeywordCond) expr() {}
func (*BlockExpr) expr()   {}
func (*AssignExpr) expr()  {}

// Position implementations.
func (n *IntLit) Position() Pos      { return n.Pos }
func (n *StrLit) Position() Pos      { return n.Pos }
func (n *PVExpr) Position() Pos      { return n.Pos }
func (n *AvpAttr) Position() Pos     { return n.Pos }
func (n *SelectExpr) Position() Pos  { return n.Pos }
func (n *Unary) Position() Pos       { return n.Pos }
func (n *Binary) Position() Pos      { return n.Pos }
func (n *SelVal) Position() Pos      { return n.Pos }
func (n *CallExpr) Position() Pos    { return n.Pos }
func (n *RouteCall) Position() Pos   { return n.Pos }
func (n *RawArg) Position() Pos      { return n.Pos }
func (n *KeywordCond) Position() Pos { return n.Pos }
func (n *BlockExpr) Position() Pos   { return n.Pos }
func (n *AssignExpr) Position() Pos  { return n.Pos }
