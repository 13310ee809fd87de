// Package rpcbench holds the RPC benchmarks (calls per second over BINRPC
// and HTTP JSON-RPC, sipht side by side with Kamailio 5.6 when it is
// installed, and the time and peak memory of a 1,000,000-item dump). Run:
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/rpc/rpcbench/
//	go test -run '^$' -bench Dump -benchtime 1x ./internal/rpc/rpcbench/
package rpcbench
