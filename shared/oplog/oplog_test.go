package oplog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/protocol"
)

// setup starts a server and provisions the layout with l.
func setup(t *testing.T, l broker.Layout) *broker.Infra {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := broker.Provision(ctx, nc, l)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	return in
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// appendN appends versions 1..n to sid, interleaved with another session's
// entries so that sequences are not dense per subject.
func appendN(t *testing.T, in *broker.Infra, sid string, n int) []Entry {
	t.Helper()
	ctx := ctxT(t)
	other := uuid.NewString()
	var last, otherLast uint64
	var out []Entry
	for v := 1; v <= n; v++ {
		e := Entry{Version: int64(v), UserID: "user", OpID: fmt.Sprintf("op-%d", v), ConnID: "conn",
			Timestamp: int64(1000 + v), Ops: ot.Op{ot.Retain(v - 1), ot.Insert("x")}}
		if v == 1 {
			e.Ops = ot.Op{ot.Insert("x")}
		}
		seq, err := Append(ctx, in.JS, sid, e, last)
		if err != nil {
			t.Fatalf("append %d: %v", v, err)
		}
		e.Seq, last, e.Size = seq, seq, encodedSize(t, sid, e)
		out = append(out, e)
		if v%3 == 0 {
			oe := Entry{Version: int64(v/3 + 0), UserID: "o", Ops: ot.Op{ot.Insert("o")}}
			if oe.Version > 1 {
				oe.Ops = ot.Op{ot.Retain(int(oe.Version - 1)), ot.Insert("o")}
			}
			if otherLast, err = Append(ctx, in.JS, other, oe, otherLast); err != nil {
				t.Fatalf("append other: %v", err)
			}
		}
	}
	return out
}

// encodedSize is the body size Decode reports for e.
func encodedSize(t *testing.T, sid string, e Entry) int {
	t.Helper()
	m, err := Encode(sid, e)
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Data)
}

func TestEncodeDecode(t *testing.T) {
	in := setup(t, broker.Layout{})
	ctx := ctxT(t)
	sid := uuid.NewString()
	sub, err := in.NC.SubscribeSync(broker.AppliedSubject(sid))
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{Version: 1, UserID: "Zoë \"q\" 😀", UserName: "Zoë", Role: protocol.RoleObserver, OpID: "line\nbreak\r\x00", ConnID: "c-1",
		Timestamp: 1705315800000, Ops: ot.Op{ot.Insert("a😀\u2028\"b")}}
	seq, err := Append(ctx, in.JS, sid, want, 0)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	want.Seq, want.Size = seq, encodedSize(t, sid, want)

	raw, err := in.Ops.GetMsg(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRaw(raw)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeRaw: got %+v, %v; want %+v", got, err, want)
	}
	if raw.Header.Get(broker.HeaderVersion) != "1" {
		t.Fatalf("headers %v", raw.Header)
	}
	for k := range raw.Header {
		if k != broker.HeaderVersion && !strings.HasPrefix(k, "Nats-") {
			// Our one header: the rest is in the body.
			t.Errorf("stored header %s: %v", k, raw.Header)
		}
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("republished: %v", err)
	}
	if len(m.Header) > 8 {
		// Past 8 keys nats.go's header map grows a table for every
		// republished entry each instance reads.
		t.Fatalf("the republished entry has %d headers: %v", len(m.Header), m.Header)
	}
	if got, err = Decode(m); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(republished): got %+v, %v; want %+v", got, err, want)
	}
	entries, more, err := ReadAfter(ctx, in, sid, 0, Limits{Entries: 10})
	if err != nil || len(entries) != 1 || !reflect.DeepEqual(entries[0], want) || more {
		t.Fatalf("ReadAfter: got %+v, %t, %v", entries, more, err)
	}

	for _, bad := range []string{``, `{}`, `{"v":1}`, `{"v":0,"ops":[]}`, `{"v":1,"ops":null}`, `{"v":1,"ops":[0]}`, `[]`} {
		if _, err := decodeBody([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("decode %q: got %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := Encode(sid, Entry{Version: 0, Ops: ot.Op{}}); err == nil {
		t.Error("encode version 0: no error")
	}
}

func TestAppendConflict(t *testing.T) {
	in := setup(t, broker.Layout{})
	ctx := ctxT(t)
	sid := uuid.NewString()
	e := Entry{Version: 1, UserID: "u", Ops: ot.Op{ot.Insert("a")}}
	seq, err := Append(ctx, in.JS, sid, e, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, expect := range []uint64{0, seq + 1} {
		if _, err := Append(ctx, in.JS, sid, Entry{Version: 2, UserID: "v", Ops: ot.Op{ot.Insert("b")}}, expect); !errors.Is(err, ErrConflict) {
			t.Errorf("expect %d: got %v, want ErrConflict", expect, err)
		}
	}
	last, ok, err := Last(ctx, in, sid)
	if err != nil || !ok || last.Version != 1 || last.Seq != seq {
		t.Fatalf("last: %+v %v %v", last, ok, err)
	}
}

func TestRead(t *testing.T) {
	in := setup(t, broker.Layout{})
	sid := uuid.NewString()
	all := appendN(t, in, sid, 25)
	ptr := func(v int64) *int64 { return &v }
	tests := []struct {
		from     int64
		limit    int
		first    int64 // 0: none
		n        int
		wantNext *int64
	}{
		{1, 10, 1, 10, ptr(11)},
		{11, 10, 11, 10, ptr(21)},
		{21, 10, 21, 5, nil},
		{0, 0, 1, 25, nil},
		{-5, 3, 1, 3, ptr(4)},
		{13, 0, 13, 13, nil},
		{25, 1, 25, 1, nil},
		{24, 1, 24, 1, ptr(25)},
		{26, 10, 0, 0, nil},
		{1000, 10, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("from=%d,limit=%d", tc.from, tc.limit), func(t *testing.T) {
			got, next, err := Read(ctxT(t), in, sid, tc.from, Limits{Entries: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n {
				t.Fatalf("got %d entries, want %d", len(got), tc.n)
			}
			if tc.n > 0 && !reflect.DeepEqual(got, all[tc.first-1:tc.first-1+int64(tc.n)]) {
				t.Fatalf("got %+v", got)
			}
			if (next == nil) != (tc.wantNext == nil) || next != nil && *next != *tc.wantNext {
				t.Fatalf("next = %v, want %v", deref(next), deref(tc.wantNext))
			}
		})
	}
	if got, next, err := Read(ctxT(t), in, uuid.NewString(), 1, Limits{Entries: 10}); err != nil || len(got) != 0 || next != nil {
		t.Fatalf("unknown session: %v %v %v", got, next, err)
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestReadTrimmed(t *testing.T) {
	in := setup(t, broker.Layout{OpsMaxPerSession: 10})
	sid := uuid.NewString()
	appendN(t, in, sid, 25)
	got, next, err := Read(ctxT(t), in, sid, 1, Limits{Entries: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[0].Version != 16 || got[9].Version != 25 || next != nil {
		t.Fatalf("got %d entries from %v, next %v", len(got), got, deref(next))
	}
	got, next, err = Read(ctxT(t), in, sid, 20, Limits{Entries: 3})
	if err != nil || len(got) != 3 || got[0].Version != 20 || next == nil || *next != 23 {
		t.Fatalf("from 20: %v %v %v", got, deref(next), err)
	}
}

func TestReadAfterBatches(t *testing.T) {
	in := setup(t, broker.Layout{})
	sid := uuid.NewString()
	all := appendN(t, in, sid, 2*batchSize+7)
	got, more, err := ReadAfter(ctxT(t), in, sid, 0, Limits{Entries: len(all)})
	if err != nil || !reflect.DeepEqual(got, all) || more {
		t.Fatalf("ReadAfter all: %d entries, %t, %v", len(got), more, err)
	}
	got, more, err = ReadAfter(ctxT(t), in, sid, all[99].Seq, Limits{Entries: batchSize + 1})
	if err != nil || !reflect.DeepEqual(got, all[100:100+batchSize+1]) || !more {
		t.Fatalf("ReadAfter middle: %d entries, %t, %v", len(got), more, err)
	}
	got, next, err := Read(ctxT(t), in, sid, 700, Limits{Entries: len(all)})
	if err != nil || len(got) != len(all)-699 || got[0].Version != 700 || next != nil {
		t.Fatalf("Read from 700: %d entries, %v, %v", len(got), deref(next), err)
	}
}

// A catch-up read of a few entries allocates a few KiB, not the 512 KiB
// channel of a default sync subscription (SubChanLen pointers): a realtime
// instance that loses append races runs hundreds of them at once (the
// split layout's heavy interview held 467 MiB of them).
func TestReadAfterAllocatesLittle(t *testing.T) {
	in := setup(t, broker.Layout{})
	sid := uuid.NewString()
	all := appendN(t, in, sid, 3)
	ctx := ctxT(t)
	const reads = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		got, _, err := ReadAfter(ctx, in, sid, all[0].Seq, Limits{})
		if err != nil || len(got) != 2 {
			t.Fatalf("ReadAfter: %d entries, %v", len(got), err)
		}
	}
	runtime.ReadMemStats(&after)
	// The embedded server's work for the requests is counted too.
	if per := (after.TotalAlloc - before.TotalAlloc) / reads; per > 128<<10 {
		t.Fatalf("a read of 2 entries allocated %d KiB, want at most 128", per>>10)
	}
}

// Reads are bounded by bytes as well as entries: nats-server sends a batch
// as fast as it can, and one answer near its 64 MiB pending limit (500
// entries of 256 KiB) cuts the reader off as a slow consumer. Every batch
// asks for at most batchBytes, and ReadAfter returns pieces within
// Limits.Bytes, whatever the caller asks for.
func TestReadAfterBoundsBytes(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	in, err := broker.Provision(ctxT(t), nc, broker.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	sid := uuid.NewString()
	big := strings.Repeat("x", 128<<10)
	const n = 40 // 5 MiB: more than one batch
	var all []Entry
	var last uint64
	for v := 1; v <= n; v++ {
		e := Entry{Version: int64(v), UserID: "u", Timestamp: int64(v), Ops: ot.Op{ot.Insert(big)}}
		if last, err = Append(ctxT(t), in.JS, sid, e, last); err != nil {
			t.Fatalf("append %d: %v", v, err)
		}
		e.Seq, e.Size = last, encodedSize(t, sid, e)
		all = append(all, e)
	}
	size := all[0].Size

	// The server stops a batch after the message that reaches max_bytes.
	got, err := batch(ctxT(t), in, broker.OpsSubject(sid), 1, n, 2*size)
	if err != nil || len(got) != 2 {
		t.Fatalf("batch of max_bytes %d: %d entries of %d bytes, %v", 2*size, len(got), size, err)
	}

	tests := []struct {
		name string
		lim  Limits
		per  int // entries per read
	}{
		{"3 entries of bytes", Limits{Entries: n, Bytes: 3*size + size/2}, 3},
		{"less than one entry", Limits{Entries: n, Bytes: 10}, 1},
		{"entries first", Limits{Entries: 7, Bytes: 1 << 40}, 7},
		{"everything asked", Limits{Entries: 1 << 30, Bytes: 1 << 40}, n},
		{"more than a batch", Limits{Entries: n, Bytes: batchBytes + 3*size + size/2}, (batchBytes + 3*size + size/2) / size},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Entry
			after := uint64(0)
			for reads := 0; ; reads++ {
				part, more, err := ReadAfter(ctxT(t), in, sid, after, tc.lim)
				if err != nil {
					t.Fatalf("read %d: %v", reads, err)
				}
				if want := min(tc.per, n-len(got)); len(part) != want {
					t.Fatalf("read %d: %d entries, want %d", reads, len(part), want)
				}
				got = append(got, part...)
				after = part[len(part)-1].Seq
				if more != (len(got) < n) {
					t.Fatalf("read %d: more = %t with %d of %d read", reads, more, len(got), n)
				}
				if !more {
					break
				}
			}
			if !reflect.DeepEqual(got, all) {
				t.Fatalf("read %d entries, not the %d appended", len(got), n)
			}
		})
	}
	if !nc.IsConnected() || nc.Stats().Reconnects != 0 || srv.NumSlowConsumers() != 0 {
		t.Fatalf("the reader lost its connection: connected %t, reconnects %d, slow consumers %d",
			nc.IsConnected(), nc.Stats().Reconnects, srv.NumSlowConsumers())
	}
}

// A full stream refuses the next append with ErrFull (DiscardNew) instead
// of dropping the oldest entries of any session: every entry acknowledged
// before, of the writer and of another session, is still there, and room
// freed by a purge takes appends again. Per subject, MaxMsgsPerSubject
// still drops the oldest (TestReadTrimmed). A three-node cluster refuses
// before proposing, with the same error.
func TestAppendToFullStream(t *testing.T) {
	t.Run("server", func(t *testing.T) { appendToFullStream(t, 1, natstest.Connect(t, natstest.Start(t))) })
	t.Run("cluster", func(t *testing.T) {
		nc, err := nats.Connect(natstest.StartCluster(t, 3).URLs(), nats.MaxReconnects(-1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		appendToFullStream(t, 3, nc)
	})
}

func appendToFullStream(t *testing.T, replicas int, nc *nats.Conn) {
	const maxBytes = 64 << 10
	ctx := ctxT(t)
	in, err := broker.ProvisionRetry(ctx, nc, broker.Layout{Replicas: replicas, OpsMaxBytes: maxBytes}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := in.Ops.Info(ctx); err != nil || info.Config.Discard != jetstream.DiscardNew || info.Config.MaxBytes != maxBytes {
		t.Fatalf("stream config %+v, %v; want DiscardNew with MaxBytes %d", info.Config, err, maxBytes)
	}
	otherID := uuid.NewString()
	other := appendN(t, in, otherID, 6)
	sid := uuid.NewString()
	var acked []Entry
	var last uint64
	text := strings.Repeat("z", 1000)
	for v := int64(1); ; v++ {
		if v > maxBytes/1000+10 {
			t.Fatalf("%d appends of 1 KB acknowledged by a stream of %d bytes", v-1, maxBytes)
		}
		e := Entry{Version: v, UserID: "u", Timestamp: v, Ops: ot.Op{ot.Insert(text)}}
		if v > 1 {
			e.Ops = ot.Op{ot.Retain(int(v-1) * len(text)), ot.Insert(text)}
		}
		seq, err := Append(ctx, in.JS, sid, e, last)
		if errors.Is(err, ErrFull) {
			if pe := FullRefusal(err); pe.Code != protocol.CodeServiceUnavailable || pe.Details["limit"] != "OPS_MAX_BYTES" {
				t.Fatalf("refusal %+v", pe)
			}
			break
		}
		if err != nil {
			t.Fatalf("append %d: %v", v, err)
		}
		e.Seq, last = seq, seq
		acked = append(acked, e)
	}
	if len(acked) < 20 {
		t.Fatalf("only %d appends of 1 KB before the %d-byte stream was full", len(acked), maxBytes)
	}
	got, _, err := ReadAfter(ctx, in, sid, 0, Limits{})
	if err != nil || len(got) != len(acked) || got[0].Version != 1 || got[len(got)-1].Seq != last {
		t.Fatalf("after the refusal the log holds %d entries (%v), want the %d acknowledged", len(got), err, len(acked))
	}
	kept, _, err := ReadAfter(ctx, in, otherID, 0, Limits{})
	if err != nil || len(kept) != len(other) || kept[0].Version != 1 {
		t.Fatalf("the other session holds %d entries (%v), want its %d", len(kept), err, len(other))
	}
	// A snapshot lets the older half go: the stream takes appends again.
	if err := PurgeBefore(ctx, in, sid, acked[len(acked)/2].Seq); err != nil {
		t.Fatal(err)
	}
	v := int64(len(acked) + 1)
	e := Entry{Version: v, UserID: "u", Timestamp: v, Ops: ot.Op{ot.Retain(int(v-1) * len(text)), ot.Insert(text)}}
	if _, err := Append(ctx, in.JS, sid, e, last); err != nil {
		t.Fatalf("append after a purge freed room: %v", err)
	}
}

// When the NATS server's own JetStream storage is full (its
// max_file_store; here other buckets took it), an append is refused with
// ErrNoStorage, not an outage's error: NoStorageRefusal tells the client
// the server cannot store edits now. What was acknowledged stays, and an
// append goes through again once storage is freed.
func TestAppendWithoutStorage(t *testing.T) {
	nc := natstest.Connect(t, natstest.Start(t, natstest.Options{MaxStore: 8 << 20}))
	ctx := ctxT(t)
	in, err := broker.ProvisionRetry(ctx, nc, broker.Layout{Replicas: 1, OpsMaxBytes: 4 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sid := uuid.NewString()
	acked := appendN(t, in, sid, 5)
	last := acked[len(acked)-1].Seq
	// Another bucket fills what the server has left.
	blob := bytes.Repeat([]byte("d"), 16<<10)
	for i := 0; ; i++ {
		if _, err := in.Documents.Put(ctx, fmt.Sprintf("filler-%d", i), blob); err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("16 MiB stored on a server with 8 MiB of storage")
		}
	}
	e := Entry{Version: 6, UserID: "user", OpID: "op-6", Timestamp: 1006, Ops: ot.Op{ot.Retain(5), ot.Insert("x")}}
	_, err = Append(ctx, in.JS, sid, e, last)
	if !errors.Is(err, ErrNoStorage) {
		t.Fatalf("append with the server's storage full: %v, want ErrNoStorage", err)
	}
	if broker.Unavailable(err) {
		t.Errorf("the refusal passes for a NATS outage: %v", err)
	}
	pe := NoStorageRefusal(err)
	if pe.Code != protocol.CodeServiceUnavailable || pe.Details["limit"] != "max_file_store" ||
		pe.Details["retryAfterMs"] != FullRetryAfter.Milliseconds() || !strings.Contains(pe.Message, "cannot store edits") {
		t.Fatalf("refusal %+v", pe)
	}
	got, _, err := ReadAfter(ctx, in, sid, 0, Limits{})
	if err != nil || len(got) != len(acked) || got[len(got)-1].Seq != last {
		t.Fatalf("after the refusal the log holds %d entries (%v), want the %d acknowledged", len(got), err, len(acked))
	}
	docs, err := in.JS.Stream(ctx, "KV_"+in.Documents.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if err := docs.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Append(ctx, in.JS, sid, e, last); err != nil {
		t.Fatalf("append once storage was freed: %v", err)
	}
}
