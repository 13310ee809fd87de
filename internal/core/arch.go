package core

import "runtime"

var runtimeArch = archName(runtime.GOARCH) + "/" + runtime.GOOS

func archName(a string) string {
	if a == "amd64" {
		return "x86_64"
	}
	return a
}
