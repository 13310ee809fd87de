package sipio

import "sync"

// Message buffers come from three size classes so that a queued 600-byte
// OPTIONS does not pin a 64 KiB buffer.
var bufClasses = [...]int{2048, 16 << 10, 64 << 10}

var bufPools [len(bufClasses)]sync.Pool

// getBuf returns a buffer with capacity >= n (length 0 is up to the caller).
func getBuf(n int) *[]byte {
	for i, c := range bufClasses {
		if n <= c {
			if bp, ok := bufPools[i].Get().(*[]byte); ok {
				return bp
			}
			b := make([]byte, 0, c)
			return &b
		}
	}
	b := make([]byte, 0, n)
	return &b
}

// putBuf returns a buffer to its class; odd sizes are left to the GC.
func putBuf(bp *[]byte) {
	if bp == nil {
		return
	}
	c := cap(*bp)
	for i := len(bufClasses) - 1; i >= 0; i-- {
		if c >= bufClasses[i] {
			if c > 2*bufClasses[i] && i == len(bufClasses)-1 {
				return // grew far beyond the largest class: let it go
			}
			*bp = (*bp)[:0]
			bufPools[i].Put(bp)
			return
		}
	}
}
