package main

import (
	"fmt"
	"io"
)

// userMain implements `sipht user add|rm|list`.
func userMain(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sipht user: not available yet")
	return 2
}

// dbMain implements `sipht db init [DB_URL]`.
func dbMain(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sipht db: not available yet")
	return 2
}
