package auth_db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sipht/sipht/internal/script"
)

// Column sets of the credentials queries.
const (
	colPass  = iota // password_column + load_credentials
	colPass2        // password_column_2 + load_credentials
	colCreds        // load_credentials only (is_subscriber)
	colUser         // user_column only (is_subscriber flag 2)
)

// stmtKey identifies a prepared statement.
type stmtKey struct {
	table      string
	cols       int
	withDomain bool
}

// maxStmts bounds the prepared statements kept for tables named at run
// time ($var(table)); beyond it queries are prepared per call.
const maxStmts = 64

// keysFor lists the statements authentication of table needs, prepared at
// start.
func (m *Module) keysFor(table string) []stmtKey {
	wd := m.useDomain != 0
	return []stmtKey{{table, colPass, wd}, {table, colPass2, wd}}
}

func (m *Module) querySQL(k stmtKey) string {
	d := m.db.Dialect()
	var cols []string
	switch k.cols {
	case colPass:
		cols = append(cols, d.Quote(m.passCol))
	case colPass2:
		cols = append(cols, d.Quote(m.passCol2))
	case colUser:
		cols = append(cols, d.Quote(m.userCol))
	}
	if k.cols != colUser {
		for _, c := range m.creds {
			cols = append(cols, d.Quote(c.column))
		}
	}
	if len(cols) == 0 {
		cols = append(cols, d.Quote(m.userCol))
	}
	q := "SELECT " + strings.Join(cols, ",") + " FROM " + d.Quote(k.table) + " WHERE " + d.Quote(m.userCol) + "=" + d.Placeholder(1)
	if k.withDomain {
		q += " AND " + d.Quote(m.domainCol) + "=" + d.Placeholder(2)
	}
	return q + " LIMIT 1"
}

// stmt returns the prepared statement for k, preparing it when needed.
// A nil statement with a nil error means "do not keep one" (too many
// tables): the caller runs the query text directly.
func (m *Module) stmt(ctx context.Context, k stmtKey) (*sql.Stmt, error) {
	m.mu.Lock()
	s, ok := m.stmts[k]
	n := len(m.stmts)
	m.mu.Unlock()
	if ok {
		return s, nil
	}
	if n >= maxStmts {
		return nil, nil
	}
	s, err := m.db.SQL().PrepareContext(ctx, m.querySQL(k))
	if err != nil {
		return nil, fmt.Errorf("prepare the credentials query on table %s: %w", k.table, m.explain(k.table, err))
	}
	m.mu.Lock()
	if o, ok := m.stmts[k]; ok {
		m.mu.Unlock()
		s.Close()
		return o, nil
	}
	m.stmts[k] = s
	m.mu.Unlock()
	return s, nil
}

// explain turns a "no such table" or "no such column" error into a
// message that says what to check.
func (m *Module) explain(table string, err error) error {
	d := m.db.Dialect()
	switch {
	case d.IsMissingTable(err):
		return fmt.Errorf("table %q does not exist in %s: %w", table, m.db.URL().String(), err)
	case d.IsMissingColumn(err):
		return fmt.Errorf("a column named by user_column, domain_column, password_column, password_column_2 or load_credentials is not in table %q: %w", table, err)
	}
	return err
}

// errNoDB is returned when a function runs before Start (sipht -c never
// runs functions; tests might).
var errNoDB = errors.New("database not open")

// query runs the credentials query k for user (and domain) and fills row.
func (m *Module) query(c *script.Ctx, k stmtKey, user, domain string, row *credRow) error {
	if m.db == nil {
		return errNoDB
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(m.queryTimeoutMS)*time.Millisecond)
	defer cancel()
	s, err := m.stmt(ctx, k)
	if err != nil {
		return err
	}
	args := [2]any{user, domain}
	nargs := 1
	if k.withDomain {
		nargs = 2
	}
	var rows *sql.Rows
	if s != nil {
		rows, err = s.QueryContext(ctx, args[:nargs]...)
	} else {
		rows, err = m.db.SQL().QueryContext(ctx, m.querySQL(k), args[:nargs]...)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer from %s within %d ms: %w", m.db.URL().String(), m.queryTimeoutMS, err)
		}
		return m.explain(k.table, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return nil
	}
	var pass sql.NullString
	ncred := 0
	if k.cols != colUser {
		ncred = len(m.creds)
	}
	if ncred == 0 {
		if err := rows.Scan(&pass); err != nil {
			return fmt.Errorf("read the credentials row: %w", err)
		}
		row.found, row.pass = true, pass.String
		return nil
	}
	dest := make([]any, 0, 1+ncred)
	vals := make([]any, ncred)
	if k.cols == colPass || k.cols == colPass2 || k.cols == colUser || ncred == 0 {
		dest = append(dest, &pass)
	}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return fmt.Errorf("read the credentials row: %w", err)
	}
	row.found = true
	row.pass = pass.String
	row.creds = vals
	return nil
}
