// Package auth_db is Kamailio's auth_db module: digest authentication
// against the subscriber table (www_authenticate, proxy_authenticate,
// auth_check) and is_subscriber, on any database a db_url names (SQLite,
// MySQL/MariaDB, PostgreSQL; see internal/db).
//
// Every authentication reads the table (Kamailio has no cache either), with
// a prepared statement per table and column set and a bounded query time
// (query_timeout, a sipht parameter): a database that stops answering makes
// the functions return -1 and log an error instead of blocking SIP workers.
// At start the module connects (retrying while the server is unreachable),
// checks the version row of every table named by a constant in the script
// (version_table) and, on SQLite only, creates a missing subscriber table
// (the embedded seed config's first start).
package auth_db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/auth"
	"github.com/sipht/sipht/modules/internal/kamarg"
)

func init() {
	module.Register(module.Info{
		Name:    "auth_db",
		Summary: "digest authentication against the subscriber table of a database",
		New:     func() module.Module { return New() },
	})
}

// DefaultDBURL is Kamailio's default db_url for auth_db.
const DefaultDBURL = "mysql://kamailioro:kamailioro@localhost/kamailio"

// Module is the auth_db module.
type Module struct {
	dbURL          string
	userCol        string
	domainCol      string
	passCol        string
	passCol2       string
	calcHA1        int64
	useDomain      int64
	credList       string
	versionTable   int64
	forceAVPs      int64
	queryTimeoutMS int64

	creds []credential // parsed load_credentials

	auth   *auth.Module
	log    *slog.Logger
	db     *db.DB
	tables map[string]bool // constant table names used by the script

	mu    sync.Mutex
	stmts map[stmtKey]*sql.Stmt
}

// credential is one load_credentials entry: a column loaded into a PV.
type credential struct {
	column string
	pvText string
	pv     *script.PV
}

// New returns an auth_db module with Kamailio's defaults.
func New() *Module {
	return &Module{
		dbURL:          DefaultDBURL,
		userCol:        "username",
		domainCol:      "domain",
		passCol:        "ha1",
		passCol2:       "ha1b",
		versionTable:   1,
		queryTimeoutMS: 2000,
		tables:         map[string]bool{},
		stmts:          map[stmtKey]*sql.Stmt{},
	}
}

// Params lists Kamailio's auth_db modparams plus query_timeout.
func (m *Module) Params() []module.Param {
	return []module.Param{
		module.StrParam("db_url", &m.dbURL, "database holding the subscriber table"),
		module.StrParam("user_column", &m.userCol, "user name column (username)"),
		module.StrParam("domain_column", &m.domainCol, "domain column (domain)"),
		module.StrParam("password_column", &m.passCol, "HA1 column, or the plain password with calculate_ha1 (ha1)"),
		module.StrParam("password_column_2", &m.passCol2, "HA1 column used for usernames with @domain (ha1b)"),
		module.IntParam("calculate_ha1", &m.calcHA1, "1: password_column holds plain passwords"),
		module.IntParam("use_domain", &m.useDomain, "1: match the domain column too"),
		module.StrParam("load_credentials", &m.credList, "columns loaded into AVPs after authentication: \"col;$avp(x)=col2\""),
		module.IntParam("version_table", &m.versionTable, "check the table version row (7) at start"),
		module.IntParam("force_generate_avps", &m.forceAVPs, "load the credentials even when authentication fails"),
		module.IntParam("query_timeout", &m.queryTimeoutMS, "sipht: milliseconds a credentials query may take (2000)"),
	}
}

// Init binds to the auth module, parses load_credentials and declares the
// functions.
func (m *Module) Init(h *module.Host) error {
	m.log = h.Log
	am, ok := h.Loaded("auth")
	if !ok {
		return errors.New(`the auth module is needed: add loadmodule "auth.so"`)
	}
	m.auth, ok = am.(*auth.Module)
	if !ok {
		return errors.New("the loaded auth module is not sipht's auth")
	}
	for _, c := range []struct{ name, v string }{{"user_column", m.userCol}, {"domain_column", m.domainCol},
		{"password_column", m.passCol}, {"password_column_2", m.passCol2}} {
		if err := db.CheckIdent(c.v); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if _, err := db.ParseURL(m.dbURL, h.Core.Workdir); err != nil {
		return fmt.Errorf("db_url: %w", err)
	}
	creds, err := parseCredentials(m.credList)
	if err != nil {
		return fmt.Errorf("load_credentials: %w", err)
	}
	m.creds = creds
	if m.queryTimeoutMS <= 0 {
		return fmt.Errorf("query_timeout must be positive, got %d", m.queryTimeoutMS)
	}
	return m.declare(h.Script)
}

// parseCredentials reads a load_credentials list: entries separated by
// ';', each "column" (loaded into $avp(column)) or "$pv=column".
func parseCredentials(list string) ([]credential, error) {
	var out []credential
	for _, e := range strings.Split(list, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		var c credential
		if i := strings.LastIndexByte(e, '='); i > 0 {
			c.pvText = strings.TrimSpace(e[:i])
			c.column = strings.TrimSpace(e[i+1:])
		} else {
			c.column = e
			c.pvText = "$avp(" + e + ")"
		}
		if c.column == "" || c.pvText == "" {
			return nil, fmt.Errorf("bad entry %q", e)
		}
		if err := db.CheckIdent(c.column); err != nil {
			return nil, fmt.Errorf("entry %q: %w", e, err)
		}
		out = append(out, c)
	}
	// Kamailio prepends each entry to its list: the columns are loaded in
	// reverse order (it matters only when two entries write the same AVP).
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// resolveCreds resolves the load_credentials PVs at the first call site.
func (m *Module) resolveCreds(fc *script.FixupCtx) error {
	for i := range m.creds {
		c := &m.creds[i]
		if c.pv != nil {
			continue
		}
		pv, err := fc.ParsePV(c.pvText)
		if err != nil {
			return fmt.Errorf("load_credentials: %w", err)
		}
		if pv.Set == nil {
			return fc.Errorf("load_credentials: %s is not writable", c.pvText)
		}
		c.pv = pv
	}
	return nil
}

type authArgs struct {
	realm  kamarg.Str
	table  kamarg.Str
	method *kamarg.Str
	flags  kamarg.Int
}

func (m *Module) compileArgs(fc *script.FixupCtx, withFlags bool) (*authArgs, error) {
	var a authArgs
	var err error
	if a.realm, err = kamarg.CompileStr(fc.Arg(0)); err != nil {
		return nil, err
	}
	if a.table, err = kamarg.CompileStr(fc.Arg(1)); err != nil {
		return nil, err
	}
	if t, ok := a.table.Const(); ok {
		if t == "" {
			return nil, fc.Arg(1).Errorf("empty table name")
		}
		if err := db.CheckIdent(t); err != nil {
			return nil, fc.Arg(1).Errorf("table: %v", err)
		}
		m.tables[t] = true
	}
	if fc.NArgs() == 3 {
		if withFlags {
			if a.flags, err = kamarg.CompileInt(fc.Arg(2)); err != nil {
				return nil, err
			}
		} else {
			s, err := kamarg.CompileStr(fc.Arg(2))
			if err != nil {
				return nil, err
			}
			a.method = &s
		}
	}
	if err := m.resolveCreds(fc); err != nil {
		return nil, err
	}
	return &a, nil
}

func (m *Module) declare(r *script.Registry) error {
	authFunc := func(name string, kind auth.HeaderKind, maxArgs int) script.Func {
		return script.Func{Name: name, MinArgs: 2, MaxArgs: maxArgs, Module: "auth_db", Routes: script.RequestRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				a, err := m.compileArgs(fc, false)
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int {
					if c.Msg == nil || c.Msg.Req == nil {
						return auth.CodeError
					}
					realm, table := a.realm.Get(c), a.table.Get(c)
					if realm == "" {
						c.Log.Error("auth_db: invalid realm parameter - empty value")
						return auth.CodeError
					}
					method := string(c.Msg.Req.Method)
					if a.method != nil {
						if method = a.method.Get(c); method == "" {
							c.Log.Error("auth_db: invalid method parameter - empty value")
							return auth.CodeError
						}
					}
					code, _ := m.Authenticate(c, realm, table, kind, method)
					return code
				}, nil
			}}
	}
	funcs := []script.Func{
		authFunc("www_authenticate", auth.WWW, 3),
		authFunc("www_authorize", auth.WWW, 2),
		authFunc("proxy_authenticate", auth.Proxy, 2),
		authFunc("proxy_authorize", auth.Proxy, 2),
		{Name: "auth_check", MinArgs: 3, MaxArgs: 3, Module: "auth_db", Routes: script.RequestRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				a, err := m.compileArgs(fc, true)
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int { return m.authCheck(c, a) }, nil
			}},
		{Name: "is_subscriber", MinArgs: 3, MaxArgs: 3, Module: "auth_db",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				a, err := m.compileArgs(fc, true)
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int { return m.isSubscriber(c, a) }, nil
			}},
	}
	for _, f := range funcs {
		if err := r.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// Start connects to the database, checks (or on SQLite creates) the
// tables and prepares the statements.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	d, err := db.Open(ctx, m.dbURL, db.Options{
		WorkDir:   h.Core.Workdir,
		CreateDir: true,
		Logger:    h.Log,
	})
	if err != nil {
		return err
	}
	m.db = d
	names := make([]string, 0, len(m.tables))
	for t := range m.tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		if err := m.prepareTable(ctx, t); err != nil {
			d.Close()
			m.db = nil
			return err
		}
	}
	return nil
}

// prepareTable creates a missing subscriber table on SQLite, checks the
// version row when version_table is set and prepares the statements.
func (m *Module) prepareTable(ctx context.Context, table string) error {
	d := m.db
	if d.Driver() == db.SQLite {
		ok, err := d.TableExists(ctx, table)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := d.Init(ctx, db.Subscriber(table)); err != nil {
				return fmt.Errorf("create table %s: %w", table, err)
			}
			m.log.Info("created the subscriber table (add users with `sipht user add USER@DOMAIN PASSWORD`)",
				"table", table, "db", d.URL().String())
		}
	}
	if m.versionTable != 0 {
		if err := d.CheckVersion(ctx, table, db.SubscriberTableVersion); err != nil {
			return err
		}
	}
	for _, k := range m.keysFor(table) {
		if _, err := m.stmt(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Stop closes the database.
func (m *Module) Stop(ctx context.Context) error {
	m.mu.Lock()
	for k, s := range m.stmts {
		s.Close()
		delete(m.stmts, k)
	}
	m.mu.Unlock()
	if m.db != nil {
		return m.db.Close()
	}
	return nil
}

// DB returns the open database (nil before Start).
func (m *Module) DB() *db.DB { return m.db }

// Authenticate is www_authenticate / proxy_authenticate: digest
// authentication of the request against table. It returns Kamailio's code
// and the credentials used.
func (m *Module) Authenticate(c *script.Ctx, realm, table string, kind auth.HeaderKind, method string) (int, *auth.Credentials) {
	var row credRow
	looked := false
	code, cr := m.auth.Authenticate(c, realm, kind, method, func(cr *auth.Credentials, realm string) (string, int) {
		looked = true
		return m.ha1(c, cr, realm, table, &row)
	})
	if looked && row.found && (code == auth.CodeOK || m.forceAVPs != 0) {
		m.setAVPs(c, row.creds)
	}
	return code, cr
}

// credRow is what a credentials query returned.
type credRow struct {
	found bool
	pass  string
	creds []any
}

// ha1 looks the user up and returns the HA1 to check the response with.
func (m *Module) ha1(c *script.Ctx, cr *auth.Credentials, realm, table string, row *credRow) (string, int) {
	if table == "" {
		c.Log.Error("auth_db: invalid table parameter - empty value")
		return "", auth.CodeError
	}
	domain := realm
	if cr.Domain != "" {
		domain = cr.Domain
	}
	col := colPass
	if cr.Domain != "" && m.calcHA1 == 0 {
		col = colPass2
	}
	k := stmtKey{table: table, cols: col, withDomain: m.useDomain != 0}
	if err := m.query(c, k, cr.User, domain, row); err != nil {
		c.Log.Error("auth_db: failed to query database", "table", table, "user", cr.User, "err", err)
		return "", auth.CodeError
	}
	if !row.found {
		return "", auth.CodeUserUnknown
	}
	if m.calcHA1 != 0 {
		var buf [64]byte
		return string(m.auth.Algorithm.HA1(buf[:], cr.Username, realm, row.pass)), 0
	}
	return row.pass, 0
}

// authCheck implements auth_check(realm, table, flags).
func (m *Module) authCheck(c *script.Ctx, a *authArgs) int {
	msg := c.Msg
	if msg == nil || msg.Req == nil {
		return auth.CodeError
	}
	mth := string(msg.Req.Method)
	if strings.EqualFold(mth, "ACK") || strings.EqualFold(mth, "CANCEL") {
		return auth.CodeOK
	}
	realm, table := a.realm.Get(c), a.table.Get(c)
	flags, ok := a.flags.Get(c)
	switch {
	case !ok:
		c.Log.Error("auth_db: invalid flags parameter")
		return auth.CodeError
	case realm == "":
		c.Log.Error("auth_db: invalid realm parameter - empty value")
		return auth.CodeError
	case table == "":
		c.Log.Error("auth_db: invalid table parameter - empty value")
		return auth.CodeError
	}
	kind := auth.Proxy
	if msg.Req.Method == "REGISTER" {
		kind = auth.WWW
	}
	code, cr := m.Authenticate(c, realm, table, kind, mth)
	if code == auth.CodeOK && cr != nil && flags&1 != 0 {
		return auth.CheckIdentity(msg, cr, m.useDomain != 0, flags&2 != 0)
	}
	return code
}

// isSubscriber implements is_subscriber(uri, table, flags): 1 when the
// user (and with flags&1 the domain) of uri is in table, -2 when not, -1
// on error. Unless flags&2 the load_credentials columns are loaded.
func (m *Module) isSubscriber(c *script.Ctx, a *authArgs) int {
	uri, table := a.realm.Get(c), a.table.Get(c)
	flags, ok := a.flags.Get(c)
	if !ok {
		c.Log.Error("auth_db: invalid flags parameter")
		return -1
	}
	if uri == "" {
		c.Log.Error("auth_db: invalid uri parameter - empty value")
		return -1
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		c.Log.Error("auth_db: invalid uri parameter format", "uri", uri)
		return -1
	}
	if table == "" {
		c.Log.Error("auth_db: invalid table parameter - empty value")
		return -1
	}
	k := stmtKey{table: table, cols: colCreds, withDomain: flags&1 != 0 && u.Host != ""}
	if flags&2 != 0 {
		k.cols = colUser
	}
	var row credRow
	if err := m.query(c, k, u.User, u.Host, &row); err != nil {
		c.Log.Error("auth_db: failed to query database", "table", table, "user", u.User, "err", err)
		return -1
	}
	if !row.found {
		return -2
	}
	if flags&2 == 0 {
		m.setAVPs(c, row.creds)
	}
	return 1
}

// setAVPs stores loaded credential values into their PVs.
func (m *Module) setAVPs(c *script.Ctx, vals []any) {
	for i, v := range vals {
		if i >= len(m.creds) {
			break
		}
		var sv script.Value
		switch x := v.(type) {
		case nil:
			continue
		case int64:
			sv = script.Int(x)
		case []byte:
			sv = script.Str(string(x))
		case string:
			sv = script.Str(x)
		case time.Time:
			sv = script.Str(x.Format("2006-01-02 15:04:05"))
		default:
			sv = script.Str(fmt.Sprint(x))
		}
		if err := m.creds[i].pv.Set(c, sv); err != nil {
			c.Log.Error("auth_db: cannot set credential", "column", m.creds[i].column, "err", err)
		}
	}
}
