// Package examples holds runnable sipht configs; the seed config is also
// embedded in the binary as its default.
package examples

import _ "embed"

// Seed is examples/seed.cfg: the htable tutorial completed into a working
// registrar. `sipht` with no -f runs it.
//
//go:embed seed.cfg
var Seed []byte
