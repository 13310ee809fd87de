// Package all links every compiled-in module into the binary. Each module
// registers itself from init(); importing this package is what makes
// `loadmodule "NAME.so"` find it.
package all

import (
	_ "github.com/sipht/sipht/modules/ctl"
	_ "github.com/sipht/sipht/modules/jsonrpcs"
	_ "github.com/sipht/sipht/modules/webui"
	_ "github.com/sipht/sipht/modules/xhttp"
	_ "github.com/sipht/sipht/modules/xhttp_prom"
)
