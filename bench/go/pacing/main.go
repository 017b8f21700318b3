// Command pacing is bench/pacing.c in Go: one GCPERCENT setting over the same
// deterministic workload (same random numbers, sizes, live-set shape and
// operation count), measured the same way, printing the same key=value line.
// bench/pacing.sh runs both and draws the GOGC trade-off curve
// (docs/pacing.md).
//
//	pacing_go --percent P [--live-mib N] [--ops N] [--sample-ms N] [--seed N]
//
// Correspondence with the C program:
//   - gc_alloc of a node: &Node{} (64 bytes, pointer fields next and data);
//   - gc_alloc_noscan payload / buffer: make([]byte, n) (Go zeroes it; C does not);
//   - gc_alloc of a pointer-bearing short-lived object: make([]*Node, n/8);
//   - gc_set_percent: debug.SetGCPercent; gc_collect: runtime.GC;
//   - gc_read_memstats: runtime.ReadMemStats (both stop the world briefly).
//
// Standard library only; go.mod says go 1.19.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	kChain       = 4    // nodes per record
	kRecordBytes = 832  // 4 * (64 + ~144): one record with its payloads
	kShortPerOp  = 4    // short-lived objects per operation
	kRing        = 4096 // entries per ring of short-lived objects
	magic        = 0x9e3779b97f4a7c15
)

// Node is 64 bytes, like the C struct (next, data, len, cap, id, check, pad[2]).
type Node struct {
	next  *Node
	data  []byte // noscan payload
	id    uint64
	check uint64 // id ^ magic
	pad   [2]uint64
}

// Package-level variables are roots, as the C globals are.
var (
	table      []*Node
	nrec       uint64
	ptrRing    [][]*Node
	noscanRing [][]byte
	rng        uint64
	nextID     uint64 = 1
)

// rnd is splitmix64, identical to bench_rand in bench/harness.h.
func rnd() uint64 {
	rng += 0x9e3779b97f4a7c15
	z := rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func fail(what string, detail uint64) {
	fmt.Fprintf(os.Stderr, "pacing: FAILED: %s (%d)\n", what, detail)
	os.Exit(1)
}

// newNode: a payload of 16-255 bytes whose first and last byte carry the id.
func newNode(next *Node) *Node {
	n := &Node{}
	l := 16 + rnd()%240
	d := make([]byte, l)
	n.id = nextID
	nextID++
	n.check = n.id ^ magic
	d[0] = byte(n.id)
	d[l-1] = ^byte(n.id)
	n.data = d
	n.next = next
	return n
}

func newRecord() *Node {
	var head *Node
	for i := 0; i < kChain; i++ {
		head = newNode(head)
	}
	return head
}

// ---- Monitor ----

var (
	stopMonitor int32
	ms          runtime.MemStats
	seenGC      uint32
	peakInuse   uint64
	pauses      []uint64
	lost        int64
	samples     int64
)

func sample() {
	runtime.ReadMemStats(&ms)
	samples++
	if ms.HeapInuse > peakInuse {
		peakInuse = ms.HeapInuse
	}
	n := ms.NumGC
	if n-seenGC > 256 {
		lost += int64(n - seenGC - 256)
		seenGC = n - 256
	}
	for c := seenGC + 1; c <= n; c++ { // cycle c at (c - 1) % 256
		pauses = append(pauses, ms.PauseNs[(c-1)%256])
	}
	seenGC = n
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	percent := flag.Int("percent", -1, "GC percent (required, >= 1)")
	liveMiB := flag.Int64("live-mib", 64, "live set in MiB")
	ops := flag.Int64("ops", 1500000, "churn operations")
	sampleMs := flag.Int64("sample-ms", 10, "MemStats sampling period, ms")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *percent < 1 || *liveMiB < 1 || *ops < 1 || *sampleMs < 1 {
		fmt.Fprintf(os.Stderr, "usage: %s --percent P [--live-mib N] [--ops N] [--sample-ms N] [--seed N]\n", os.Args[0])
		os.Exit(2)
	}
	rng = *seed

	// Build the live set with collection off, then one full collection.
	debug.SetGCPercent(-1)
	nrec = uint64(*liveMiB * 1048576 / kRecordBytes)
	table = make([]*Node, nrec)
	ptrRing = make([][]*Node, kRing)
	noscanRing = make([][]byte, kRing)
	for i := range table {
		table[i] = newRecord()
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	liveHeapMiB := float64(ms.HeapAlloc) / 1048576
	gc0 := ms.NumGC
	alloc0 := ms.TotalAlloc
	seenGC = gc0
	peakInuse = ms.HeapInuse
	debug.SetGCPercent(*percent)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for atomic.LoadInt32(&stopMonitor) == 0 {
			time.Sleep(time.Duration(*sampleMs) * time.Millisecond)
			sample()
		}
	}()

	t0, c0 := time.Now(), cpuSeconds()
	pi, ni := 0, 0
	for op := int64(0); op < *ops; op++ {
		for k := 0; k < kShortPerOp; k++ {
			r := rnd()
			b := uint64(16) << (r % 8)
			size := (b + (r>>8)%b) &^ 7
			if (r>>40)&1 != 0 {
				p := make([]*Node, size/8)
				p[0] = table[(r>>41)%nrec]
				ptrRing[pi] = p
				pi = (pi + 1) % kRing
			} else {
				p := make([]byte, size)
				for i := uint64(0); i < 8; i++ {
					p[i] = byte(r)
					p[size-8+i] = byte(r)
				}
				noscanRing[ni] = p
				ni = (ni + 1) % kRing
			}
		}
		j := rnd() % nrec // before newRecord draws its sizes
		table[j] = newRecord()
	}
	wallS, cpuS := time.Since(t0).Seconds(), cpuSeconds()-c0

	atomic.StoreInt32(&stopMonitor, 1)
	wg.Wait()
	sample() // the last cycles, and the final GCCPUFraction
	cycles := ms.NumGC - gc0

	// Check every record.
	for i, head := range table {
		l := 0
		for n := head; n != nil; n = n.next {
			if n.check != n.id^magic {
				fail("node check word", uint64(i))
			}
			if len(n.data) < 16 || len(n.data) > 255 || n.data[0] != byte(n.id) ||
				n.data[len(n.data)-1] != ^byte(n.id) {
				fail("payload", uint64(i))
			}
			l++
		}
		if l != kChain {
			fail("record length", uint64(i))
		}
	}

	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	var maxUs, medUs, p99Us float64
	if n := len(pauses); n > 0 {
		maxUs = float64(pauses[n-1]) / 1e3
		medUs = float64(pauses[(n-1)/2]) / 1e3
		rank := (n*99 + 99) / 100 // nearest rank, 1-based
		p99Us = float64(pauses[rank-1]) / 1e3
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// impl is goMAJOR.MINOR (go1.19.8 -> go1.19).
	ver := runtime.Version()
	impl := ver
	if parts := strings.SplitN(ver, ".", 3); len(parts) == 3 {
		impl = parts[0] + "." + parts[1]
	}
	fmt.Printf("pacing impl=%s percent=%d mode=%s live_mib=%d ops=%d cycles=%d "+
		"gc_cpu_fraction=%.4f peak_heap_mib=%.1f peak_rss_mib=%.1f max_pause_us=%.0f "+
		"p99_pause_us=%.0f median_pause_us=%.0f wall_s=%.3f ops_per_s=%.0f cpu_s=%.3f "+
		"total_alloc_mib=%.0f live_heap_mib=%.1f samples=%d lost=%d check=ok\n",
		impl, *percent, ver, *liveMiB, *ops, cycles, ms.GCCPUFraction,
		float64(peakInuse)/1048576, float64(ru.Maxrss)/1024, maxUs, p99Us, medUs,
		wallS, float64(*ops)/wallS, cpuS, float64(ms.TotalAlloc-alloc0)/1048576,
		liveHeapMiB, samples, lost)
}
