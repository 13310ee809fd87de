// Package db_mysql is Kamailio's db_mysql module as an accepted no-op:
// sipht opens mysql:// db_urls itself (MySQL and MariaDB), so a config that
// loads db_mysql.so runs unchanged.
package db_mysql

import (
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/modules/internal/noopdb"
)

func init() {
	var ps []noopdb.Param
	for _, n := range []string{"ping_interval", "connect_timeout", "send_timeout", "receive_timeout", "retries",
		"server_timezone", "timeout_interval", "auto_reconnect", "insert_delayed", "update_affected_found",
		"unsigned_type", "opt_ssl_mode"} {
		ps = append(ps, noopdb.Param{Name: n, Kind: module.ParamInt})
	}
	noopdb.Register("db_mysql", "mysql", ps...)
}
