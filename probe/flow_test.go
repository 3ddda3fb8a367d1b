package probe

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestEvictionTakesLeastRecentlySeen: with a full table, a new flow evicts
// the flow idle the longest, whatever its class, and a busy old flow stays.
func TestEvictionTakesLeastRecentlySeen(t *testing.T) {
	peer := remote("203.0.113.1", 9999)
	udp := func(port uint16) []byte { return udpFrame(t, withPort(lanA, port), peer, []byte("x")) }
	k := newConn(t, withPort(lanA, 2000), remote("203.0.113.2", 443))
	tl := &timeline{}
	tl.at(0, udp(1000))                          // A, UDP
	tl.at(10*time.Millisecond, k.handshake()[0]) // B, TCP (a SYN)
	tl.at(20*time.Millisecond, udp(1002))        // C
	tl.at(30*time.Millisecond, udp(1003))        // D
	tl.at(40*time.Millisecond, udp(1000))        // A again: now the most recent
	tl.at(50*time.Millisecond, udp(1005))        // E evicts B (TCP), the least recently seen
	tl.at(60*time.Millisecond, udp(1006))        // F evicts C
	tl.at(70*time.Millisecond, udp(1007))        // G evicts D
	tl.at(80*time.Millisecond, udp(1008))        // H evicts A, seen at 40 ms
	s, c := runFrames(t, tl.frames, Options{MaxFlows: 4})
	if c.FlowsEvicted != 4 || c.FlowsTotal != 8 {
		t.Fatalf("evicted %d of %d flows, want 4 of 8", c.FlowsEvicted, c.FlowsTotal)
	}
	var order []uint16
	var times []int64
	for _, r := range s.flows[:4] {
		order = append(order, r.ClientPort)
		times = append(times, r.Time-t0.UnixMilli())
	}
	if want := []uint16{2000, 1002, 1003, 1000}; !slices.Equal(order, want) {
		t.Errorf("evicted client ports %v, want %v", order, want)
	}
	if want := []int64{50, 60, 70, 80}; !slices.Equal(times, want) {
		t.Errorf("evictions reported at %v ms, want when the new flow came: %v", times, want)
	}
}

// TestExpiryUnderFullTable: flows keep timing out at their own expiry
// while new flows evict others from a full table.
func TestExpiryUnderFullTable(t *testing.T) {
	peer := remote("203.0.113.1", 9999)
	udp := func(port uint16) []byte { return udpFrame(t, withPort(lanA, port), peer, []byte("x")) }
	dns := remote("8.8.8.8", 53)
	tl := &timeline{}
	tl.at(0, udpFrame(t, withPort(lanA, 5300), dns, dnsMsg(t, 1, "example.org", nil))) // DNS: 10 s
	for i := range 40 {                                                                // a flood of UDP flows, one every 200 ms
		tl.at(time.Duration(i)*200*time.Millisecond+time.Millisecond, udp(uint16(3000+i)))
	}
	s, c := runFrames(t, tl.frames, Options{MaxFlows: 8})
	if c.FlowsActive != 0 || c.FlowsTotal != 41 {
		t.Fatalf("counters %+v", c)
	}
	var dnsEnd int64 = -1
	for _, r := range s.flows {
		if r.ServerPort == 53 {
			dnsEnd = r.Time - t0.UnixMilli()
		}
	}
	// The DNS flow was the oldest, so the flood's first eviction took it
	// (at the flood's 8th flow, 1.4 s in) before its 10-second timeout.
	if dnsEnd != 1401 {
		t.Errorf("DNS flow reported at %d ms, want evicted at 1401", dnsEnd)
	}
	if c.FlowsEvicted != 41-8 {
		t.Errorf("evicted %d, want %d (the last 8 end with the capture)", c.FlowsEvicted, 41-8)
	}

	// Slower than the timeout: nothing is evicted, every flow expires at
	// its last packet plus 10 s, in order.
	tl = &timeline{}
	for i := range 20 {
		tl.at(time.Duration(i)*2*time.Second, udpFrame(t, withPort(lanA, uint16(5300+i)), dns, dnsMsg(t, uint16(i), "example.org", nil)))
	}
	tl.at(time.Hour, arpFrame(t, lanA))
	s, c = runFrames(t, tl.frames, Options{MaxFlows: 8})
	if c.FlowsEvicted != 0 || len(s.flows) != 20 {
		t.Fatalf("evicted %d, %d reports", c.FlowsEvicted, len(s.flows))
	}
	for i, r := range s.flows {
		if want := int64(i)*2000 + 10_000; r.Time-t0.UnixMilli() != want || r.ClientPort != uint16(5300+i) {
			t.Errorf("report %d: port %d at %d ms, want port %d at %d", i, r.ClientPort, r.Time-t0.UnixMilli(), 5300+i, want)
		}
	}
}

// modelFlow is the naive table's entry.
type modelFlow struct {
	class  uint8
	last   int64
	touch  int // order of the last touch, for equal times
	exists bool
}

// TestFlowTableModel drives the table with random operations and checks
// each answer against a naive table that scans everything: lookups,
// the least recently seen flow, and which flows expire in what order.
func TestFlowTableModel(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	const bound = 64
	timeouts := [numClasses]int64{300, 60, 30, 10, 60, 1}
	ft := newFlowTable(bound, timeouts)
	model := map[flowKey]*modelFlow{}
	idxOf := map[flowKey]int32{}
	now, touches := int64(1000), 0
	key := func() flowKey { return flowKey{uint64(r.IntN(200)), 0, 7, 0, 6} }
	naiveOldest := func() (flowKey, bool) {
		var best flowKey
		var bm *modelFlow
		for k, m := range model {
			if bm == nil || m.last < bm.last || m.last == bm.last && m.touch < bm.touch {
				best, bm = k, m
			}
		}
		return best, bm != nil
	}
	for step := range 200_000 {
		now += int64(r.IntN(3))
		k := key()
		h := k.hash()
		idx := ft.lookup(&k, h)
		m := model[k]
		if (idx >= 0) != (m != nil) {
			t.Fatalf("step %d: lookup %v, model has it: %v", step, idx, m != nil)
		}
		switch op := r.IntN(10); {
		case op < 5: // a packet: new flow or seen
			touches++
			if m != nil {
				ft.seen(idx, now)
				m.last, m.touch = now, touches
				break
			}
			if ft.full() {
				o := ft.oldest()
				want, _ := naiveOldest()
				if ft.pool[o].key != want {
					t.Fatalf("step %d: oldest %v, naive %v", step, ft.pool[o].key, want)
				}
				ft.remove(o)
				delete(model, want)
				delete(idxOf, want)
			}
			c := uint8(r.IntN(numClasses))
			idxOf[k] = ft.insert(&k, h, c, now)
			model[k] = &modelFlow{class: c, last: now, touch: touches, exists: true}
		case op < 6 && m != nil: // a class change (a TCP close)
			touches++
			c := uint8(r.IntN(numClasses))
			ft.setClass(idx, c, now)
			m.class, m.last, m.touch = c, now, touches
		case op < 7 && m != nil:
			ft.remove(idx)
			delete(model, k)
			delete(idxOf, k)
		case op < 9: // expiry
			type end struct {
				k  flowKey
				at int64
			}
			var want, got []end
			for k, m := range model {
				if e := m.last + timeouts[m.class]; e <= now {
					want = append(want, end{k, e})
				}
			}
			ft.expired(now, func(i int32, at int64) {
				got = append(got, end{ft.pool[i].key, at})
				ft.remove(i)
			})
			for i := 1; i < len(got); i++ {
				if got[i].at < got[i-1].at {
					t.Fatalf("step %d: expiry out of order: %v", step, got)
				}
			}
			cmp := func(a, b end) int { return int(a.k[0]) - int(b.k[0]) }
			slices.SortFunc(want, cmp)
			slices.SortFunc(got, cmp)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("step %d: expired %v, naive %v", step, got, want)
			}
			for _, e := range got {
				delete(model, e.k)
				delete(idxOf, e.k)
			}
		}
		if ft.active != len(model) {
			t.Fatalf("step %d: %d active, model %d", step, ft.active, len(model))
		}
	}
}
