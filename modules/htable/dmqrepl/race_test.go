//go:build race

package dmqrepl

// raceBuild shrinks the big-table tests under the race detector (about 20
// times slower).
const raceBuild = true
