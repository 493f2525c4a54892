package oplog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/natstest"
	"github.com/pairpad/pairpad/shared/ot"
)

// readYourAppendsRounds is how many append-then-read rounds the cluster
// test makes: a follower lags the leader by well under a millisecond on
// loopback, so a stale answer takes hundreds of rounds to show.
const readYourAppendsRounds = 1000

// roundTimeout bounds one round of a many-round cluster test.
const roundTimeout = 30 * time.Second

// clusterInfras provisions a three-node cluster through one connection per
// node (ConnectEach), so a reader never shares the writer's server.
func clusterInfras(t *testing.T, ctx context.Context) []*broker.Infra {
	t.Helper()
	var ins []*broker.Infra
	for _, nc := range natstest.StartCluster(t, 3).ConnectEach(t) {
		in, err := broker.ProvisionRetry(ctx, nc, broker.Layout{Replicas: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in)
	}
	return ins
}

// An entry acknowledged through one node is in every read that follows,
// through any node: the newest entry (Last), a catch-up after the entry
// before it (ReadAfter), a read by version (Read: the history route, a
// stale update's transform) and the whole log (ReadState). Direct gets are
// answered by any replica of the stream, the reader's own server first,
// so each read must notice a follower's short answer and not act on it.
func TestReadYourAppendsOnACluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ins := clusterInfras(t, ctx)
	sid := uuid.NewString()
	var prev uint64
	for i := range readYourAppendsRounds {
		// Each round has its own bound: a thousand rounds under -race on a
		// loaded machine can take minutes, and what the test asserts is the
		// answers, not the pace.
		ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
		v := int64(i + 1)
		w, r := ins[i%3], ins[(i+1)%3]
		e := Entry{Version: v, UserID: "u", OpID: fmt.Sprint("op-", v), Timestamp: v, Ops: ot.Op{ot.Retain(i), ot.Insert("x")}}
		if i == 0 {
			e.Ops = ot.Op{ot.Insert("x")}
		}
		seq, err := Append(ctx, w.JS, sid, e, prev)
		if err != nil {
			t.Fatalf("append %d: %v", v, err)
		}
		switch i % 4 {
		case 0:
			last, ok, err := Last(ctx, r, sid)
			if err != nil || !ok || last.Seq != seq {
				t.Fatalf("round %d: Last through another node = seq %d (ok %t, %v), want %d", i, last.Seq, ok, err, seq)
			}
		case 1:
			got, _, err := ReadAfter(ctx, r, sid, prev, Limits{})
			if err != nil || len(got) != 1 || got[0].Seq != seq {
				t.Fatalf("round %d: ReadAfter(%d) through another node = %d entries (%v), want the one at seq %d", i, prev, len(got), err, seq)
			}
		case 2:
			got, next, err := Read(ctx, r, sid, v, Limits{})
			if err != nil || len(got) != 1 || got[0].Version != v || next != nil {
				t.Fatalf("round %d: Read(from %d) through another node = %d entries (%v), want version %d", i, v, len(got), err, v)
			}
		case 3:
			st, err := ReadState(ctx, r, sid)
			if err != nil || st.Version != v || len(st.Text) != int(v) {
				t.Fatalf("round %d: ReadState through another node = version %d (%v), want %d", i, st.Version, err, v)
			}
		}
		cancel()
		prev = seq
	}
}

// backToBackAppends is how many appends the back-to-back test makes: the
// leader clears an entry's subject microseconds after acknowledging it,
// so a next append that arrives first takes hundreds of rounds to show.
const backToBackAppends = 1000

// A writer's appends, each sent the moment the one before was
// acknowledged, are all stored on a three-node cluster: the leader may
// still hold the previous entry's subject as in process and answer 10164
// without checking the expected sequence, which is no conflict (Publish
// sends it again). The writer talks to the leader's own node, where the
// acknowledgement comes back fastest. A stale expectation is still a
// conflict.
func TestAppendBackToBackOnACluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ins := clusterInfras(t, ctx)
	info, err := ins[0].Ops.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream info: %+v, %v", info, err)
	}
	var node int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &node); err != nil || node < 1 || node > len(ins) {
		t.Fatalf("leader %q: %v", info.Cluster.Leader, err)
	}
	w := ins[node-1]
	sid := uuid.NewString()
	var prev uint64
	for i := range backToBackAppends {
		v := int64(i + 1)
		e := Entry{Version: v, UserID: "u", Timestamp: v, Ops: ot.Op{ot.Retain(i), ot.Insert("x")}}
		if i == 0 {
			e.Ops = ot.Op{ot.Insert("x")}
		}
		actx, cancel := context.WithTimeout(context.Background(), roundTimeout)
		seq, err := Append(actx, w.JS, sid, e, prev)
		cancel()
		if err != nil {
			t.Fatalf("append %d after seq %d: %v", v, prev, err)
		}
		prev = seq
	}
	ctx, cancel = context.WithTimeout(context.Background(), roundTimeout)
	defer cancel()
	stale := Entry{Version: backToBackAppends + 1, UserID: "v", Ops: ot.Op{ot.Retain(backToBackAppends), ot.Insert("y")}}
	if _, err := Append(ctx, w.JS, sid, stale, prev-1); !errors.Is(err, ErrConflict) {
		t.Fatalf("append after a stale seq: %v, want ErrConflict", err)
	}
	last, ok, err := Last(ctx, w, sid)
	if err != nil || !ok || last.Seq != prev || last.Version != backToBackAppends {
		t.Fatalf("last: %+v %t %v, want version %d at seq %d", last, ok, err, backToBackAppends, prev)
	}
}
