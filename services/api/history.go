package api

import (
	"log/slog"
	"net/http"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/protocol"
)

// Bounds of GET /api/sessions/{id}/history. An answer stops before the
// update that would take it past maxHistoryBytes of stored entries (about
// the size of their JSON in the answer), so a log of 256 KiB fullCode
// edits is served in pages of about 1 MiB rather than 256 MiB at once,
// each well within the request's time limit.
const (
	defaultHistoryLimit = 1000
	maxHistoryLimit     = 1000
	maxHistoryBytes     = 1 << 20
)

// handleHistory serves a session's applied updates, in version order, with
// who made each (user id, name and role), to a participant (a join token of
// that session), the host (the host key) or an operator (the admin token);
// an ended interview's history stays readable. Strangers cannot tell which
// sessions exist (see sessionAccess.identify).
func handleHistory(in *broker.Infra, access sessionAccess, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sessionId")
		if _, _, err := access.identify(r, id); err != nil {
			writeAccessError(w, r, log, err)
			return
		}
		q := r.URL.Query()
		from, err := intParam(q, "from", 1, 1, maxInt)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		limit, err := intParam(q, "limit", defaultHistoryLimit, 1, maxHistoryLimit)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		entries, next, err := oplog.Read(r.Context(), in, id, from, oplog.Limits{Entries: int(limit), Bytes: maxHistoryBytes})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		h := protocol.History{SessionID: id, Updates: make([]protocol.HistoryUpdate, 0, len(entries)), Next: next}
		for _, e := range entries {
			h.Updates = append(h.Updates, protocol.HistoryUpdate{
				Version: e.Version, UserID: e.UserID, UserName: e.UserName, Role: e.Role, OpID: e.OpID,
				Timestamp: e.Timestamp, Ops: e.Ops,
			})
		}
		httpx.WriteJSON(w, http.StatusOK, h)
	})
}
