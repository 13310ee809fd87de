package server

import "testing"

// Without filters the transport gets no Filter: its read loop pays nothing.
func TestNoFiltersNoChain(t *testing.T) {
	if (&Server{}).filterChain() != nil {
		t.Fatal("a chain without filters")
	}
}
