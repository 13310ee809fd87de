// Package db_sqlite is Kamailio's db_sqlite module as an accepted no-op:
// sipht opens sqlite:// db_urls itself (pure-Go SQLite, WAL mode), so a
// config that loads db_sqlite.so runs unchanged.
package db_sqlite

import (
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/modules/internal/noopdb"
)

func init() {
	noopdb.Register("db_sqlite", "sqlite",
		noopdb.Param{Name: "db_set_readonly", Kind: module.ParamStr},
		noopdb.Param{Name: "db_set_journal_mode", Kind: module.ParamStr})
}
