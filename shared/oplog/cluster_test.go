package oplog

import (
	"context"
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
		prev = seq
	}
}
