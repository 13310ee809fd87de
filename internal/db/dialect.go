package db

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect holds what differs between the SQL of SQLite, MySQL/MariaDB and
// PostgreSQL: placeholders, identifier quoting, column types, error codes.
type Dialect struct {
	Driver Driver
}

// Placeholder returns the n-th (1-based) bind placeholder: "?" or "$n".
func (d Dialect) Placeholder(n int) string {
	if d.Driver == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// appendPlaceholders writes count placeholders numbered from first,
// comma-separated.
func (d Dialect) appendPlaceholders(b *strings.Builder, first, count int) {
	for i := 0; i < count; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		if d.Driver == Postgres {
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(first + i))
		} else {
			b.WriteByte('?')
		}
	}
}

// Quote quotes an identifier (table or column name; "schema.table" is
// quoted part by part). Names are checked by CheckIdent first; Quote
// itself does not fail.
func (d Dialect) Quote(name string) string {
	q := `"`
	if d.Driver == MySQL {
		q = "`"
	}
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// CheckIdent reports whether name can be used as a table or column name:
// 1-64 characters per dot-separated part, letters, digits, '_' and '$',
// not starting with a digit.
func CheckIdent(name string) error {
	if name == "" {
		return errors.New("empty table or column name")
	}
	for _, p := range strings.Split(name, ".") {
		if p == "" || len(p) > 64 {
			return fmt.Errorf("bad table or column name %q (each part 1-64 characters)", name)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			ok := c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
			if !ok {
				return fmt.Errorf("bad table or column name %q (letters, digits, '_' and '$' only, not starting with a digit)", name)
			}
		}
	}
	return nil
}

// idColumn is the auto-increment primary key column of Kamailio's tables.
func (d Dialect) idColumn() string {
	switch d.Driver {
	case MySQL:
		return d.Quote("id") + " INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL"
	case Postgres:
		return d.Quote("id") + " SERIAL PRIMARY KEY NOT NULL"
	}
	return d.Quote("id") + " INTEGER PRIMARY KEY NOT NULL"
}

// intType is Kamailio's plain int column type (INT in MySQL, INTEGER
// elsewhere).
func (d Dialect) intType() string {
	if d.Driver == MySQL {
		return "INT"
	}
	return "INTEGER"
}

// IsMissingTable reports whether err says the table does not exist.
func (d Dialect) IsMissingTable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1146 // ER_NO_SUCH_TABLE
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "42P01" // undefined_table
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_ERROR {
		return strings.Contains(se.Error(), "no such table")
	}
	return false
}

// IsMissingColumn reports whether err says a column does not exist.
func (d Dialect) IsMissingColumn(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1054 // ER_BAD_FIELD_ERROR
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "42703" // undefined_column
	}
	return strings.Contains(err.Error(), "no such column")
}

// isUniqueViolation reports whether err is a duplicate-key error.
func (d Dialect) isUniqueViolation(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062 // ER_DUP_ENTRY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// maxParams is the most bind parameters one statement may carry, with a
// safety margin (SQLite 32766, PostgreSQL 65535, MySQL 65535).
func (d Dialect) maxParams() int {
	if d.Driver == SQLite {
		return 32000
	}
	return 60000
}
