// Package document is the collaborative document engine of the realtime
// service: operational transformation over a durable op log.
//
// # Authority
//
// Each session's op log is one subject of the SESSION_OPS stream
// (broker.OpsSubject). An update is appended with an expected last subject
// sequence equal to the newest entry this instance holds, so any number of
// realtime instances agree on one order without a leader: the loser of a
// race gets a wrong-last-sequence answer, reads what it missed from the
// stream, transforms its op over it (ot.Transform(applied, incoming): the
// update applied first wins ties) and retries. Versions are dense; each
// entry adds exactly one. Submit returns after JetStream acknowledged the
// append, so an acknowledged update is on disk.
//
// # Fan-out and gap filling
//
// Listeners are fed only from what the stream stored: the stream
// republishes each stored entry to broker.AppliedSubject, which every
// instance holding the session subscribes to once (a core subscription,
// not a consumer per socket), and an instance's own appends are folded in
// from their acknowledgement. Entries carry their version; one that does
// not follow the newest we hold (a message lost to a reconnect or a slow
// subscription) makes the session read the stream from the last sequence
// it holds (batched direct gets, no consumer). A reconnect or a dropped
// message also triggers that read, so updates made while we were away
// arrive even if nothing new is published after. A session's goroutine
// (replica.run) hands updates to listeners in version order; each carries
// the sender's ConnID, so the hub answers code-ack to it and code-update
// to the others. It runs only while the session has work (entries to
// fold, updates to deliver, a snapshot due or being written) and ends
// when it has none; what arrives starts it again. The checks every loaded
// session needs once a second (a reconnect, messages the subscription
// dropped, a catch-up to retry, a quiet window to drop) are one sweep of
// the engine over all of them (Engine.sweep), so an idle session holds no
// goroutine or timer.
//
// # Memory
//
// Per session this instance keeps the text, version and stream sequence,
// a window of recent updates and an opId index (the newest update of each
// of its dedupeConns most recent connections).
// The window holds the updates' ops and hashes, the text at its start, the
// text every 64 versions and at the newest two; it keeps
// Options.WindowVersions versions (DOC_WINDOW_VERSIONS, default 128; up to
// 64 more until the next checkpoint) within 1 MiB. Options.MemoryBudget (DOC_MEMORY_BUDGET) bounds the
// texts, indexes and windows of the instance together (Engine.MemoryBytes):
// past it the least recently edited windows shrink to their newest version
// first (Engine.trim); texts and indexes are not shrunk. A
// session without edits for Options.UnloadAfter (DOC_UNLOAD_AFTER) drops
// its window; one without listeners is unloaded (snapshot written, and
// loaded again from the snapshot and the log after it on the next Open).
// The window serves stale ops updates (older ones are transformed over
// entries read back from the stream, up to 10000 versions behind),
// fullCode updates (the edit ot.Diff(text at version, fullCode): their
// version must be within the window, otherwise INVALID_PAYLOAD asks the
// client to sync) and since replays (within the window, else
// replayOK=false and the client syncs). The inserted text of a fullCode
// edit is copied out of the decoded document, which is not kept.
//
// # Dedupe
//
// A resend of (userId, opId) returns the version it got the first time
// (replica.duplicate). Two ways find it, so that memory stays a few
// records per connection instead of growing with the edits:
//
//   - the index: the newest update of each of the session's dedupeConns
//     most recent connections, whatever version it is resent against. An
//     OT client has one update in flight per connection and resends it
//     after a reconnect, perhaps rebased on a sync. Rebuilt on load from
//     the snapshot (which carries it) and the log after it.
//   - its base: an update is applied after the version it was based on, so
//     a resend against that version is among the updates after it: in the
//     window, else in the op log (transformFromLog for ops, findInLog for
//     fullCode, which is refused with a sync when the log no longer holds
//     them).
//
// An instance that lost an append race catches up before checking again,
// so a resend through another instance is caught too.
//
// # Snapshots
//
// The documents bucket holds {code, version, seq, end, opIds} per session,
// written SnapshotDebounce after the last edit, at most SnapshotMaxDelay
// after the first unsaved one (a bound drawn between half of it and all
// of it, so sessions edited together do not snapshot together), when the
// last listener closes and on
// Engine.Close. A write never replaces a newer version (revision
// compare-and-swap). Loading is snapshot + the log after its seq.
package document
