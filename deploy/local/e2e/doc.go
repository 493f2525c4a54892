// Package e2e holds the end-to-end tests that run the real binaries as
// separate processes: the all-in-one, several realtime/api/janitor instances
// on one NATS or a 3-node cluster, SIGKILL and NATS restarts, and the nats CLI.
package e2e
