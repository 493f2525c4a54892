package realtime

import (
	"github.com/pairpad/pairpad/shared/protocol"
)

// diffUsers returns who joined and who left between two presence lists,
// and whether anything a client shows (membership, names) changed.
func diffUsers(before, after []protocol.User) (joined, left []protocol.User, changed bool) {
	old := make(map[string]protocol.User, len(before))
	for _, u := range before {
		old[u.ID] = u
	}
	cur := make(map[string]bool, len(after))
	for _, u := range after {
		cur[u.ID] = true
		p, ok := old[u.ID]
		switch {
		case !ok:
			joined = append(joined, u)
			changed = true
		case p.Name != u.Name:
			changed = true
		}
	}
	for _, u := range before {
		if !cur[u.ID] {
			left = append(left, u)
			changed = true
		}
	}
	return joined, left, changed
}
