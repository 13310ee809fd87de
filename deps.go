//go:build tools

package tools

import (
	_ "github.com/emiago/sipgo/sip"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/icholy/digest"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/jellydator/ttlcache/v3"
	_ "github.com/maypok86/otter/v2"
	_ "github.com/patrickmn/go-cache"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite"
)
