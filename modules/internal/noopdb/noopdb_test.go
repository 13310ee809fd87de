package noopdb_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/server"
	_ "github.com/sipht/sipht/modules/db_mysql"
	_ "github.com/sipht/sipht/modules/db_postgres"
	_ "github.com/sipht/sipht/modules/db_sqlite"
)

func load(cfg string) error {
	_, err := server.Load(server.Options{Source: []byte(cfg), SourceName: "t.cfg", Logger: slog.New(slog.DiscardHandler)})
	return err
}

// TestDriverModulesAccepted: Kamailio configs that load the database
// driver modules and set their parameters load unchanged.
func TestDriverModulesAccepted(t *testing.T) {
	cfg := `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "db_sqlite.so"
loadmodule "db_mysql.so"
loadmodule "db_postgres.so"
modparam("db_sqlite", "db_set_journal_mode", "/var/db.sqlite=WAL")
modparam("db_mysql", "ping_interval", 60)
modparam("db_mysql", "timeout_interval", "3")
modparam("db_postgres", "retries", 2)
modparam("db_postgres", "con_param", "connect_timeout=3")
request_route { exit; }
`
	if err := load(cfg); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(cfg, `"ping_interval"`, `"no_such_param"`, 1)
	if err := load(bad); err == nil || !strings.Contains(err.Error(), "no_such_param") {
		t.Errorf("unknown parameter: %v", err)
	}
}
