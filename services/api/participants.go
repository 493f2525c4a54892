package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/protocol"
)

// participant is what the registry keeps of a user id in a session.
type participant struct {
	Role  protocol.Role `json:"role"`
	Color string        `json:"color"`
}

// roster is the value under <sessionId> in the participants bucket.
type roster struct {
	Users map[string]participant `json:"users"`
}

// participants is the per-session registry of who joined with which role
// and colour. Every change is a create-only write (the first user) or a
// compare-and-swap on the key's revision, so api replicas joining users at
// the same time cannot give one user id two roles or two users one colour.
type participants struct {
	kv  jetstream.KeyValue
	max int // SESSION_MAX_USER_IDS
}

// registerAttempts bounds the compare-and-swap retries of one join.
const registerAttempts = 25

// register returns the role and colour userID has in the session: the ones
// it first joined with, or, for a new user id, role and the next colour of
// the palette in join order. A known user id asking for another role is
// USER_ID_TAKEN; a new one past the bound is SESSION_FULL.
func (p participants) register(ctx context.Context, sessionID, userID string, role protocol.Role) (participant, error) {
	for attempt := 0; ; attempt++ {
		ros := roster{Users: map[string]participant{}}
		var rev uint64
		e, err := p.kv.Get(ctx, sessionID)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return participant{}, fmt.Errorf("read participants of %s: %w", sessionID, err)
		default:
			if err := json.Unmarshal(e.Value(), &ros); err != nil {
				return participant{}, fmt.Errorf("decode participants of %s: %w", sessionID, err)
			}
			if ros.Users == nil {
				ros.Users = map[string]participant{}
			}
			rev = e.Revision()
		}
		if known, ok := ros.Users[userID]; ok {
			if known.Role != role {
				return participant{}, protocol.Errorf(protocol.CodeUserIDTaken,
					"The userId already joined this session as %s; join with that role or another userId", known.Role).
					WithDetails(map[string]any{"userId": "already joined as " + string(known.Role)})
			}
			return known, nil
		}
		if len(ros.Users) >= p.max {
			return participant{}, protocol.Errorf(protocol.CodeSessionFull,
				"The session has had %d distinct users, the most it keeps (SESSION_MAX_USER_IDS)", p.max).
				WithDetails(map[string]any{"maxUserIds": p.max})
		}
		me := participant{Role: role, Color: protocol.PaletteColor(len(ros.Users))}
		ros.Users[userID] = me
		b, err := json.Marshal(ros)
		if err != nil {
			return participant{}, err
		}
		if rev == 0 {
			_, err = p.kv.Create(ctx, sessionID, b)
		} else {
			_, err = p.kv.Update(ctx, sessionID, b, rev)
		}
		if err == nil {
			return me, nil
		}
		if !broker.Conflict(err) || attempt >= registerAttempts {
			return participant{}, fmt.Errorf("register %s in %s: %w", userID, sessionID, err)
		}
		if err := broker.ConflictBackoff(ctx, attempt); err != nil {
			return participant{}, fmt.Errorf("register %s in %s: %w", userID, sessionID, err)
		}
	}
}
