//go:build !race

package dmqrepl

const raceBuild = false
