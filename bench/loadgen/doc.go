// Package loadgen drives a pairpad deployment with simulated interview
// participants and measures it.
//
// Each scenario is a function taking Options (where the servers are, which
// framing to speak) and its own parameters, and returning a Result that
// serializes to JSON and renders with WriteMarkdown:
//
//   - Idle holds many connections that send nothing: connect rate and the
//     server memory each one costs.
//   - Interview runs sessions of a few users typing and moving cursors:
//     latency from each send to its receipt at every other member, errors
//     by code, server CPU.
//   - Crowd is one session of many users, then checks that every client's
//     text converged to the server's.
//   - Ramp raises the interview load step by step until p99 passes a limit.
//   - REST measures session creation and joining.
//
// Simulated users are real clients: they join over REST, connect with a
// plain WebSocket or Socket.IO v4 (or the older Socket.IO form, Legacy),
// and edit the document through an OT client (shared/ot), so the server
// sees what browsers send. Latency is measured on the generator's one
// monotonic clock: a code-update's opId carries its send time, a
// cursor-update's position its sequence number.
//
// A connection (Conn) does its own WebSocket upgrade and framing: a reader
// goroutine reads the socket through one syscall.RawConn.Read and parses
// the server's frames itself (wsReader), so a frame costs one read; a
// writer goroutine writes the masked frames Send queues.
package loadgen
