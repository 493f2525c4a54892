package api

import (
	"context"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// handleEnd ends the interview for an interviewer's join token, the host
// key or the admin token. The compare-and-swap that sets status ended is
// what every realtime instance watching the sessions bucket turns into
// session-ended {reason: "ended"}; the session stays readable until the
// janitor purges it after SESSION_RETENTION. Ending twice is not an error:
// the answer is the session as the first end left it.
func handleEnd(c catalog, access sessionAccess, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sessionId")
		who, _, err := access.identify(r, id)
		if err != nil {
			writeAccessError(w, r, log, err)
			return
		}
		if !who.ends() {
			writeError(w, r, log, errForbidden("ending the interview (an interviewer's join token, the hostKey or the admin token does)"))
			return
		}
		rec, err := c.store.EndInterview(r.Context(), id, c.now())
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		s, err := c.view(r.Context(), rec)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, s)
	})
}

// handleCode serves the session's current code to anyone with a join token
// of the session, the host key or the admin token: JSON, or with
// Accept: text/plain the text itself as a download named main.<ext>.
func handleCode(in *broker.Infra, access sessionAccess, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sessionId")
		_, rec, err := access.identify(r, id)
		if err != nil {
			writeAccessError(w, r, log, err)
			return
		}
		st, err := readDocument(r.Context(), in, id, rec)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if prefersText(r.Header.Get("Accept")) {
			// The extension comes from a fixed table of lowercase letters:
			// nothing to escape in the quoted file name.
			w.Header().Set("Content-Disposition", `attachment; filename="main.`+rec.Language.Extension()+`"`)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set(headerVersion, strconv.FormatInt(st.Version, 10))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(st.Text))
			return
		}
		httpx.WriteJSON(w, http.StatusOK, protocol.CurrentCode{Code: st.Text, Version: st.Version,
			Language: rec.Language, UpdatedAt: st.UpdatedAt})
	})
}

// headerVersion carries the document version of a text/plain code download.
const headerVersion = "X-Pairpad-Version"

// handleNotes serves the interviewer's notes to an interviewer's or
// observer's join token, the host key or the admin token; a candidate's
// token is 403.
func handleNotes(in *broker.Infra, access sessionAccess, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sessionId")
		who, rec, err := access.identify(r, id)
		if err != nil {
			writeAccessError(w, r, log, err)
			return
		}
		if !who.readsNotes() {
			writeError(w, r, log, errForbidden("reading the notes (an interviewer's or observer's join token, the hostKey or the admin token does)"))
			return
		}
		st, err := readDocument(r.Context(), in, broker.NotesDocID(id), rec)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, protocol.CurrentNotes{Notes: st.Text, Version: st.Version, UpdatedAt: st.UpdatedAt})
	})
}

// readDocument is a document's state; a document never written is empty at
// version 0, as of the session's creation.
func readDocument(ctx context.Context, in *broker.Infra, docID string, rec session.Record) (oplog.State, error) {
	st, err := oplog.ReadState(ctx, in, docID)
	if err != nil {
		return oplog.State{}, err
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = rec.CreatedAt
	}
	st.UpdatedAt = st.UpdatedAt.UTC().Truncate(time.Millisecond)
	return st, nil
}

// prefersText reports whether an Accept header ranks text/plain above
// application/json; without a preference the answer is JSON.
func prefersText(accept string) bool {
	textQ, jsonQ := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
		switch mt {
		case "text/plain":
			textQ = max(textQ, q)
		case "text/*":
			textQ = max(textQ, q/2) // a wildcard ranks below an exact type at the same q
		case "application/json":
			jsonQ = max(jsonQ, q)
		case "application/*", "*/*":
			jsonQ = max(jsonQ, q/2)
		}
	}
	return textQ > 0 && textQ > jsonQ
}
