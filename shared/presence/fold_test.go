package presence_test

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
)

// foldByMaps is Users as it was written first, with a map per field: the
// reference the slice fold is held to.
func foldByMaps(entries []presence.Entry) []protocol.User {
	byID := map[string]*protocol.User{}
	first := map[string]int64{}
	seen := map[string]int64{}
	for _, e := range entries {
		if _, ok := byID[e.UserID]; !ok {
			byID[e.UserID] = &protocol.User{ID: e.UserID, Name: e.Name, Color: e.Color, Role: protocol.Role(e.Role).OrDefault()}
			first[e.UserID] = e.ConnectedAt
		}
		seen[e.UserID] = max(seen[e.UserID], e.LastSeen)
		if e.ConnectedAt < first[e.UserID] {
			first[e.UserID] = e.ConnectedAt
		}
	}
	out := make([]protocol.User, 0, len(byID))
	for _, u := range byID {
		u.LastSeen = presence.ISOTime(seen[u.ID])
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if first[out[i].ID] != first[out[j].ID] {
			return first[out[i].ID] < first[out[j].ID]
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// TestUsersFold: the fold of connection entries into users (one per user,
// the first entry's name, the earliest connection first, ties by id, the
// latest lastSeen, a missing role as the default) is the map-based fold's,
// for small folds (searched in place) and large ones (indexed), with
// several tabs per user, equal connection times and negative times.
func TestUsersFold(t *testing.T) {
	if got := presence.Users(nil); got == nil || len(got) != 0 {
		t.Fatalf("Users(nil) = %#v, want an empty list", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	roles := []string{"", "candidate", "interviewer", "observer"}
	for _, n := range []int{1, 2, 3, 5, 16, 17, 40, 200} {
		for round := range 20 {
			entries := make([]presence.Entry, n)
			users := 1 + rng.IntN(n)
			for i := range entries {
				u := strconv.Itoa(rng.IntN(users))
				entries[i] = presence.Entry{UserID: "u" + u, Name: "User " + u + "/" + strconv.Itoa(i), Color: "#" + strconv.Itoa(i),
					Role: roles[rng.IntN(len(roles))], ConnID: strconv.Itoa(i), Instance: "i" + strconv.Itoa(rng.IntN(3)),
					ConnectedAt: int64(rng.IntN(5)) - 2, LastSeen: int64(rng.IntN(4000)) - 1000}
			}
			got, want := presence.Users(entries), foldByMaps(entries)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%d entries, round %d:\n got %+v\nwant %+v", n, round, got, want)
			}
		}
	}
}
