package oplog

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/ot"
)

// TestReadState: the current text is the snapshot plus the entries after it,
// for the code document and for another document of the session (notes),
// which never mix; a log that does not continue the snapshot is an error.
func TestReadState(t *testing.T) {
	in := setup(t, broker.Layout{})
	ctx := ctxT(t)
	sid := uuid.NewString()
	notes := broker.NotesDocID(sid)

	empty, err := ReadState(ctx, in, sid)
	if err != nil || empty != (State{}) {
		t.Fatalf("empty document: %+v, %v", empty, err)
	}

	entries := appendN(t, in, sid, 5) // "xxxxx", timestamps 1001..1005
	var notesLast uint64
	for v, text := range []string{"n", "no"} {
		op := ot.Op{ot.Retain(v), ot.Insert(text[v:])}
		if v == 0 {
			op = ot.Op{ot.Insert(text)}
		}
		if notesLast, err = Append(ctx, in.JS, notes, Entry{Version: int64(v + 1), UserID: "i", Timestamp: 2000, Ops: op}, notesLast); err != nil {
			t.Fatal(err)
		}
	}

	put := func(doc, code string, version int64, seq uint64) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"code": code, "version": version, "seq": seq, "opIds": []any{}})
		if _, err := in.Documents.Put(ctx, doc, b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		doc     string
		setup   func()
		want    State
		wantErr error
	}{
		{"log only", sid, func() {}, State{Text: "xxxxx", Version: 5, UpdatedAt: time.UnixMilli(1005).UTC()}, nil},
		{"notes are their own document", notes, func() {}, State{Text: "no", Version: 2, UpdatedAt: time.UnixMilli(2000).UTC()}, nil},
		// The snapshot's text wins over folding from version 1: it is what the log folds into.
		{"snapshot then log", sid, func() { put(sid, "abc", 3, entries[2].Seq) },
			State{Text: "abcxx", Version: 5, UpdatedAt: time.UnixMilli(1005).UTC()}, nil},
		{"snapshot is the newest", sid, func() { put(sid, "abcde", 5, entries[4].Seq) },
			State{Text: "abcde", Version: 5, UpdatedAt: time.UnixMilli(1005).UTC()}, nil},
		{"log does not continue the snapshot", sid, func() { put(sid, "a", 1, entries[2].Seq) }, State{}, ErrGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			got, err := ReadState(ctx, in, tt.doc)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %+v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
