package db

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// HA1 is MD5(user:realm:password) in lower-case hex, the ha1 column.
func HA1(user, realm, password string) string {
	sum := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// HA1B is MD5(user@domain:realm:password), the ha1b column (used by
// auth_db when the digest username carries "@domain").
func HA1B(user, domain, realm, password string) string {
	sum := md5.Sum([]byte(user + "@" + domain + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// Subscribers reads and manages auth_db's subscriber table. Column names
// follow auth_db's module params (user_column, domain_column) and kamctl's
// (password, ha1, ha1b).
type Subscribers struct {
	db             *DB
	Table          string
	UserColumn     string // user_column (default "username")
	DomainColumn   string // domain_column (default "domain")
	PasswordColumn string // plain-text password (default "password")
	HA1Column      string // default "ha1"
	HA1BColumn     string // default "ha1b"
}

// NewSubscribers returns the subscriber table accessor with Kamailio's
// default column names (table "" means "subscriber").
func NewSubscribers(d *DB, table string) *Subscribers {
	if table == "" {
		table = "subscriber"
	}
	return &Subscribers{db: d, Table: table, UserColumn: "username", DomainColumn: "domain",
		PasswordColumn: "password", HA1Column: "ha1", HA1BColumn: "ha1b"}
}

func (s *Subscribers) check(cols ...string) error {
	for _, c := range append([]string{s.Table, s.UserColumn, s.DomainColumn}, cols...) {
		if err := CheckIdent(c); err != nil {
			return err
		}
	}
	return nil
}

// CheckVersion checks the table exists with version 7, as auth_db does at
// start-up.
func (s *Subscribers) CheckVersion(ctx context.Context) error {
	return s.db.CheckVersion(ctx, s.Table, SubscriberTableVersion)
}

// LookupCredentials fetches the given columns (auth_db's password_column,
// password_column_2, load_credentials ...) of the subscriber user, and of
// domain too when useDomain (auth_db's use_domain). NULL reads as "". found
// is false when no row matches; with several matches (useDomain off) the
// first row the database returns wins, as in auth_db.
func (s *Subscribers) LookupCredentials(ctx context.Context, user, domain string, useDomain bool, columns ...string) (values []string, found bool, err error) {
	if len(columns) == 0 {
		return nil, false, errors.New("LookupCredentials: no columns asked")
	}
	if err := s.check(columns...); err != nil {
		return nil, false, err
	}
	d := s.db.dialect
	qcols := make([]string, len(columns))
	for i, c := range columns {
		qcols[i] = d.Quote(c)
	}
	query := "SELECT " + strings.Join(qcols, ",") + " FROM " + d.Quote(s.Table) + " WHERE " + d.Quote(s.UserColumn) + "=" + d.Placeholder(1)
	args := []any{user}
	if useDomain {
		query += " AND " + d.Quote(s.DomainColumn) + "=" + d.Placeholder(2)
		args = append(args, domain)
	}
	query += " LIMIT 1"
	vals := make([]sql.NullString, len(columns))
	dest := make([]any, len(columns))
	for i := range vals {
		dest[i] = &vals[i]
	}
	err = s.db.sql.QueryRowContext(ctx, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up subscriber %q in %s: %w", user, s.Table, s.db.missingTable(s.Table, err))
	}
	values = make([]string, len(vals))
	for i, v := range vals {
		values[i] = v.String
	}
	return values, true, nil
}

// usernameRE is kamctl's USERNAME_RE.
var usernameRE = regexp.MustCompile(`^[-a-zA-Z0-9&=+$,;?/_.!~*'()]+$`)

// ErrUserExists is returned by AddUser for a user already in the table.
var ErrUserExists = errors.New("user already exists")

// ErrNoUser is returned for a user not in the table.
var ErrNoUser = errors.New("no such user")

// SplitAOR splits "user@domain" (kamctl's set_user): a missing domain is
// defaultDomain (kamctl's SIP_DOMAIN); an error when there is none.
func SplitAOR(aor, defaultDomain string) (user, domain string, err error) {
	user, domain, _ = strings.Cut(aor, "@")
	if domain == "" {
		domain = defaultDomain
	}
	if domain == "" {
		return "", "", fmt.Errorf("%q has no domain: use user@domain or set a default domain", aor)
	}
	return user, domain, nil
}

// AddOptions tune AddUser.
type AddOptions struct {
	// NoPlaintext leaves the password column empty (kamctl's
	// STORE_PLAINTEXT_PW=0); by default the password is stored too, as
	// kamctl does, which auth_db needs with calculate_ha1=1.
	NoPlaintext bool
}

// AddUser adds a subscriber as `kamctl add user@domain password` does:
// realm = domain, ha1 = MD5(user:domain:password), ha1b =
// MD5(user@domain:domain:password), the plain password unless
// o.NoPlaintext. It fails with ErrUserExists when (user, domain) is taken.
func (s *Subscribers) AddUser(ctx context.Context, user, domain, password string, o AddOptions) error {
	if err := s.check(s.PasswordColumn, s.HA1Column, s.HA1BColumn); err != nil {
		return err
	}
	if err := checkUser(user, domain); err != nil {
		return err
	}
	if _, found, err := s.LookupCredentials(ctx, user, domain, true, s.UserColumn); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%s@%s: %w", user, domain, ErrUserExists)
	}
	pass := password
	if o.NoPlaintext {
		pass = ""
	}
	d := s.db.dialect
	q := d.Quote
	_, err := s.db.sql.ExecContext(ctx, "INSERT INTO "+q(s.Table)+" ("+q(s.UserColumn)+","+q(s.DomainColumn)+","+
		q(s.HA1Column)+","+q(s.HA1BColumn)+","+q(s.PasswordColumn)+") VALUES ("+
		d.Placeholder(1)+","+d.Placeholder(2)+","+d.Placeholder(3)+","+d.Placeholder(4)+","+d.Placeholder(5)+")",
		user, domain, HA1(user, domain, password), HA1B(user, domain, domain, password), pass)
	if err != nil {
		if d.isUniqueViolation(err) {
			return fmt.Errorf("%s@%s: %w", user, domain, ErrUserExists)
		}
		return fmt.Errorf("add subscriber %s@%s: %w", user, domain, s.db.missingTable(s.Table, err))
	}
	return nil
}

func checkUser(user, domain string) error {
	if !usernameRE.MatchString(user) {
		return fmt.Errorf("bad user name %q (letters, digits and -&=+$,;?/_.!~*'() only, as kamctl allows)", user)
	}
	if domain == "" || strings.ContainsAny(domain, " \t\r\n@\x00") {
		return fmt.Errorf("bad domain %q", domain)
	}
	return nil
}

// SetPassword changes a subscriber's password (kamctl passwd).
func (s *Subscribers) SetPassword(ctx context.Context, user, domain, password string, o AddOptions) error {
	if err := s.check(s.PasswordColumn, s.HA1Column, s.HA1BColumn); err != nil {
		return err
	}
	pass := password
	if o.NoPlaintext {
		pass = ""
	}
	d := s.db.dialect
	q := d.Quote
	res, err := s.db.sql.ExecContext(ctx, "UPDATE "+q(s.Table)+" SET "+q(s.HA1Column)+"="+d.Placeholder(1)+","+
		q(s.HA1BColumn)+"="+d.Placeholder(2)+","+q(s.PasswordColumn)+"="+d.Placeholder(3)+
		" WHERE "+q(s.UserColumn)+"="+d.Placeholder(4)+" AND "+q(s.DomainColumn)+"="+d.Placeholder(5),
		HA1(user, domain, password), HA1B(user, domain, domain, password), pass, user, domain)
	if err != nil {
		return fmt.Errorf("set password of %s@%s: %w", user, domain, s.db.missingTable(s.Table, err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// MySQL reports 0 for an unchanged row: check it exists.
		if _, found, err := s.LookupCredentials(ctx, user, domain, true, s.UserColumn); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("%s@%s: %w", user, domain, ErrNoUser)
		}
	}
	return nil
}

// RemoveUser deletes a subscriber (kamctl rm); ErrNoUser when absent.
func (s *Subscribers) RemoveUser(ctx context.Context, user, domain string) error {
	if err := s.check(); err != nil {
		return err
	}
	d := s.db.dialect
	q := d.Quote
	res, err := s.db.sql.ExecContext(ctx, "DELETE FROM "+q(s.Table)+" WHERE "+q(s.UserColumn)+"="+d.Placeholder(1)+
		" AND "+q(s.DomainColumn)+"="+d.Placeholder(2), user, domain)
	if err != nil {
		return fmt.Errorf("remove subscriber %s@%s: %w", user, domain, s.db.missingTable(s.Table, err))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%s@%s: %w", user, domain, ErrNoUser)
	}
	return nil
}

// SubscriberRow is one subscriber as listed.
type SubscriberRow struct {
	User, Domain, Password, HA1, HA1B string
}

// ListUsers calls fn for each subscriber ordered by domain then user.
func (s *Subscribers) ListUsers(ctx context.Context, fn func(SubscriberRow) error) error {
	if err := s.check(s.PasswordColumn, s.HA1Column, s.HA1BColumn); err != nil {
		return err
	}
	q := s.db.dialect.Quote
	rows, err := s.db.sql.QueryContext(ctx, "SELECT "+q(s.UserColumn)+","+q(s.DomainColumn)+","+q(s.PasswordColumn)+","+
		q(s.HA1Column)+","+q(s.HA1BColumn)+" FROM "+q(s.Table)+" ORDER BY "+q(s.DomainColumn)+","+q(s.UserColumn))
	if err != nil {
		return fmt.Errorf("list subscribers: %w", s.db.missingTable(s.Table, err))
	}
	defer rows.Close()
	var v [5]sql.NullString
	for rows.Next() {
		if err := rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4]); err != nil {
			return fmt.Errorf("list subscribers: %w", err)
		}
		if err := fn(SubscriberRow{User: v[0].String, Domain: v[1].String, Password: v[2].String, HA1: v[3].String, HA1B: v[4].String}); err != nil {
			return err
		}
	}
	return rows.Err()
}
