// Package all links every compiled-in module into the binary. Each module
// registers itself from init(); importing this package is what makes
// `loadmodule "NAME.so"` find it.
package all

import (
	_ "github.com/sipht/sipht/modules/auth"
	_ "github.com/sipht/sipht/modules/auth_db"
	_ "github.com/sipht/sipht/modules/core"
	_ "github.com/sipht/sipht/modules/corex"
	_ "github.com/sipht/sipht/modules/ctl"
	_ "github.com/sipht/sipht/modules/db_mysql"
	_ "github.com/sipht/sipht/modules/db_postgres"
	_ "github.com/sipht/sipht/modules/db_sqlite"
	_ "github.com/sipht/sipht/modules/dmq"
	_ "github.com/sipht/sipht/modules/htable"
	_ "github.com/sipht/sipht/modules/jsonrpcs"
	_ "github.com/sipht/sipht/modules/kex"
	_ "github.com/sipht/sipht/modules/maxfwd"
	_ "github.com/sipht/sipht/modules/pike"
	_ "github.com/sipht/sipht/modules/pv"
	_ "github.com/sipht/sipht/modules/registrar"
	_ "github.com/sipht/sipht/modules/sanity"
	_ "github.com/sipht/sipht/modules/siputils"
	_ "github.com/sipht/sipht/modules/sl"
	_ "github.com/sipht/sipht/modules/textops"
	_ "github.com/sipht/sipht/modules/textopsx"
	_ "github.com/sipht/sipht/modules/usrloc"
	_ "github.com/sipht/sipht/modules/webui"
	_ "github.com/sipht/sipht/modules/xhttp"
	_ "github.com/sipht/sipht/modules/xhttp_prom"
	_ "github.com/sipht/sipht/modules/xlog"
)
