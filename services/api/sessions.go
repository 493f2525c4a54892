package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/httpx"
	"github.com/pairpad/pairpad/shared/oplog"
	"github.com/pairpad/pairpad/shared/ot"
	"github.com/pairpad/pairpad/shared/presence"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// Page bounds of GET /api/sessions.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
)

// catalog answers what REST and micro both ask about sessions, so the two
// transports cannot drift apart.
type catalog struct {
	in    *broker.Infra
	store *session.Store
	now   func() time.Time
	log   *slog.Logger
}

// view is the protocol's Session for a record: participantCount is the
// number of distinct users connected now, across every realtime instance.
func (c catalog) view(ctx context.Context, r session.Record) (protocol.Session, error) {
	n, err := presence.Count(ctx, c.in, r.ID)
	if err != nil {
		return protocol.Session{}, err
	}
	return sessionOf(r, n), nil
}

// sessionOf is the protocol's Session for a record with n users connected.
func sessionOf(r session.Record, n int) protocol.Session {
	return protocol.Session{ID: r.ID, CreatedAt: r.CreatedAt, Language: r.Language, ParticipantCount: n,
		Title: r.Title, Status: r.StatusOrActive(), EndedAt: r.EndedAt}
}

func (c catalog) get(ctx context.Context, id string) (protocol.Session, error) {
	r, _, err := c.store.Get(ctx, id)
	if err != nil {
		return protocol.Session{}, err
	}
	return c.view(ctx, r)
}

// create stores a new session and, when the request has starter code,
// appends it to the op log as version 1, so every realtime instance loads
// it. The host key is returned here only; the record keeps its hash.
func (c catalog) create(ctx context.Context, req protocol.CreateSessionRequest) (protocol.CreatedSession, error) {
	if err := validateCreate(req); err != nil {
		return protocol.CreatedSession{}, err
	}
	key := session.NewHostKey()
	now := c.now()
	r, err := c.store.CreateRecord(ctx, session.Record{Language: req.Language, Title: req.Title,
		HostKeyHash: session.HashHostKey(key)}, now)
	if err != nil {
		return protocol.CreatedSession{}, err
	}
	if req.StarterCode != "" {
		e := oplog.Entry{Version: 1, Timestamp: now.UnixMilli(), Ops: ot.Op{ot.Insert(req.StarterCode)}}
		if _, err := oplog.Append(ctx, c.in.JS, r.ID, e, 0); err != nil {
			// Nobody has the session's id yet: take it back rather than
			// hand out a session without the code that was asked for.
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeout)
			defer cancel()
			if perr := session.Purge(pctx, c.in, r.ID); perr != nil {
				c.log.Warn("could not remove a session whose starter code was not stored; the janitor will",
					"session_id", r.ID, "err", perr)
			}
			if errors.Is(err, oplog.ErrFull) {
				return protocol.CreatedSession{}, oplog.FullRefusal(fmt.Errorf("store starter code of %s: %w", r.ID, err))
			}
			if errors.Is(err, oplog.ErrNoStorage) {
				return protocol.CreatedSession{}, oplog.NoStorageRefusal(fmt.Errorf("store starter code of %s: %w", r.ID, err))
			}
			return protocol.CreatedSession{}, fmt.Errorf("store starter code of %s: %w", r.ID, err)
		}
	}
	return protocol.CreatedSession{Session: sessionOf(r, 0), HostKey: key}, nil
}

// purgeTimeout bounds the clean-up of a creation that failed half way.
const purgeTimeout = 5 * time.Second

// validateCreate checks a creation request; every field's problem is reported at once.
func validateCreate(req protocol.CreateSessionRequest) error {
	details := map[string]any{}
	var msgs []string
	if !req.Language.Valid() {
		why := "must be one of " + languageList()
		details["language"] = why
		msgs = append(msgs, "Field \"language\" "+why)
	}
	if n := utf8.RuneCountInString(req.Title); n > protocol.MaxTitleLen || strings.ContainsFunc(req.Title, unicode.IsControl) {
		why := fmt.Sprintf("must be at most %d characters, without control characters", protocol.MaxTitleLen)
		details["title"] = why
		msgs = append(msgs, "Field \"title\" "+why)
	}
	if len(req.StarterCode) > protocol.MaxStarterCodeBytes {
		why := fmt.Sprintf("must be at most %d bytes of UTF-8, got %d", protocol.MaxStarterCodeBytes, len(req.StarterCode))
		details["starterCode"] = why
		msgs = append(msgs, "Field \"starterCode\" "+why)
	}
	if len(msgs) > 0 {
		return invalid(strings.Join(msgs, "; "), details)
	}
	return nil
}

// maxCreateBodyBytes bounds POST /api/sessions: room for the largest
// starter code even when JSON escapes every byte (\u00XX is 6 bytes).
const maxCreateBodyBytes = 6*protocol.MaxStarterCodeBytes + protocol.MaxBodyBytes

// list pages through the live sessions, oldest first.
func (c catalog) list(ctx context.Context, limit, offset int) (protocol.SessionList, error) {
	all, err := c.store.All(ctx)
	if err != nil {
		return protocol.SessionList{}, err
	}
	live := make([]session.Record, 0, len(all))
	for _, e := range all {
		if e.Live() {
			live = append(live, e.Record)
		}
	}
	out := protocol.SessionList{Sessions: []protocol.Session{}, Total: len(live), Limit: limit, Offset: offset}
	for i := offset; i < len(live) && i < offset+limit; i++ {
		v, err := c.view(ctx, live[i])
		if err != nil {
			return protocol.SessionList{}, err
		}
		out.Sessions = append(out.Sessions, v)
	}
	return out, nil
}

func languageList() string {
	names := make([]string, len(protocol.Languages))
	for i, l := range protocol.Languages {
		names[i] = string(l)
	}
	return strings.Join(names, ", ")
}

func handleCreateSession(c catalog, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req protocol.CreateSessionRequest
		if err := decodeBodyUpTo(w, r, &req, maxCreateBodyBytes); err != nil {
			writeError(w, r, log, err)
			return
		}
		s, err := c.create(r.Context(), req)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		w.Header().Set("Location", "/api/sessions/"+s.ID)
		httpx.WriteJSON(w, http.StatusCreated, s)
	})
}

func handleGetSession(c catalog, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.get(r.Context(), r.PathValue("sessionId"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, s)
	})
}

func handleListSessions(c catalog, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := intParam(q, "limit", defaultPageLimit, 1, maxPageLimit)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		offset, err := intParam(q, "offset", 0, 0, maxInt)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		offset = min(offset, int64(maxPageOffset))
		list, err := c.list(r.Context(), int(limit), int(offset))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, list)
	})
}

// maxPageOffset keeps offset+limit far from overflowing an int.
const maxPageOffset = 1 << 40

// endAttempts bounds how often DELETE retries ending a session whose record
// keeps changing under it (activity racing the delete).
const endAttempts = 25

// handleDeleteSession ends a session. The compare-and-swap that marks it
// ended is the decision every realtime instance acts on (session-ended, then
// disconnect); activity racing it makes the swap fail, and we retry.
func handleDeleteSession(in *broker.Infra, store *session.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sessionId")
		err := endSession(r.Context(), in, store, id)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func endSession(ctx context.Context, in *broker.Infra, store *session.Store, id string) error {
	for attempt := 0; ; attempt++ {
		rec, rev, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		err = session.End(ctx, in, rec, rev, protocol.EndedDeleted)
		if err == nil {
			return nil
		}
		if broker.Conflict(err) && attempt < endAttempts {
			if err := broker.ConflictBackoff(ctx, attempt); err != nil {
				return fmt.Errorf("delete session %s: %w", id, err)
			}
			continue
		}
		// The swap may have landed and only the clean-up failed: the session
		// is then ended, and the janitor finishes the purge.
		if cur, _, gerr := store.GetAny(ctx, id); gerr == nil && cur.PurgeReason != "" {
			return nil
		}
		return fmt.Errorf("delete session %s: %w", id, err)
	}
}

// writeError answers err in the protocol's shape; internal failures are
// logged here, at the boundary, since the client only sees a generic message.
// A NATS outage is a 503 (broker.Classify) and a warning, not an error: it
// heals by itself.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	err = broker.Classify(err)
	switch protocol.ErrorCode(err) {
	case protocol.CodeInternal:
		log.Error("request failed", "request_id", httpx.RequestID(r.Context()), "method", r.Method,
			"path", r.URL.Path, "err", err)
	case protocol.CodeServiceUnavailable:
		why := "request failed: NATS unavailable"
		switch {
		case errors.Is(err, oplog.ErrFull):
			why = "request failed: the SESSION_OPS stream is full (raise OPS_MAX_BYTES or lower OPS_MAX_AGE)"
		case errors.Is(err, oplog.ErrNoStorage) || broker.NoStorage(err):
			why = "request failed: the NATS server's JetStream storage is full (free or add storage: max_file_store, its volume)"
		}
		log.Warn(why, "request_id", httpx.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	httpx.WriteError(w, err)
}
