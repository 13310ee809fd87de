// Package db_postgres is Kamailio's db_postgres module as an accepted
// no-op: sipht opens postgres:// db_urls itself, so a config that loads
// db_postgres.so runs unchanged.
package db_postgres

import (
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/modules/internal/noopdb"
)

func init() {
	noopdb.Register("db_postgres", "postgres",
		noopdb.Param{Name: "retries", Kind: module.ParamInt},
		noopdb.Param{Name: "lockset", Kind: module.ParamInt},
		noopdb.Param{Name: "timeout", Kind: module.ParamInt},
		noopdb.Param{Name: "tcp_keepalive", Kind: module.ParamInt},
		noopdb.Param{Name: "bytea_output_escape", Kind: module.ParamInt},
		noopdb.Param{Name: "con_param", Kind: module.ParamStr})
}
