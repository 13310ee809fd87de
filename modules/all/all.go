// Package all links every compiled-in module into the binary. Each module
// registers itself from init(); importing this package is what makes
// `loadmodule "NAME.so"` find it.
package all

import (
	_ "github.com/sipht/sipht/modules/core"
	_ "github.com/sipht/sipht/modules/pv"
	_ "github.com/sipht/sipht/modules/sl"
	_ "github.com/sipht/sipht/modules/xlog"
)
