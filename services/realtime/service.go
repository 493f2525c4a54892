// Package realtime is the WebSocket gateway: Socket.IO v4 (WebSocket
// transport) and plain WebSocket clients join a session, edit its document
// through the document engine, and see each other's presence, cursors and
// language changes, across any number of instances coordinated by NATS.
//
// docs/protocol.md describes the protocol as implemented.
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pairpad/pairpad/services/realtime/document"
	"github.com/pairpad/pairpad/services/realtime/internal/wsconn"
	"github.com/pairpad/pairpad/shared/broker"
	"github.com/pairpad/pairpad/shared/config"
	"github.com/pairpad/pairpad/shared/process"
	"github.com/pairpad/pairpad/shared/protocol"
	"github.com/pairpad/pairpad/shared/session"
)

// Service is one realtime instance.
type Service struct {
	cfg        config.Config
	in         *broker.Infra
	log        *slog.Logger
	now        func() time.Time
	instance   string
	touchEvery time.Duration

	store    *session.Store
	engine   *document.Engine
	metrics  *metrics
	hub      *hub
	presence *presenceTracker
	// lastBeat is the time of this instance's last stored heartbeat (unix
	// milliseconds), its connections' lastSeen.
	lastBeat  atomic.Int64
	unremoved unremoved // entries of connections gone whose delete failed
	toucher   *toucher
	announcer *announcer
	clients   clientDeps // what every client uses
	slots     *slots
	limits    *limitStore // per-user rates, kept across reconnects
	upgrader  websocket.Upgrader
	// poller reads the idle connections (WS_READER=epoll); nil: each
	// has a reader goroutine.
	poller *wsconn.Poller
	// failed receives the poller's error if its waiter fails (Failed).
	failed chan error
	// peers carries the peer events (peer.go): a NoEcho connection of its
	// own when Deps.Dial can open one (ownPeers), else Infra.NC. events
	// runs the rooms' subscriptions to them.
	peers    *nats.Conn
	ownPeers bool
	// peerHeader names this instance on its peer messages when they share
	// its one connection (not ownPeers); one map for every publish,
	// which nats.go only reads.
	peerHeader nats.Header
	events     *broker.Dispatcher
	micro      micro.Service
	watches    watchSet
	handler    http.Handler

	ctx          context.Context // background work; cancelled by Shutdown
	cancel       context.CancelFunc
	bg           sync.WaitGroup // background goroutines
	shutdownOnce sync.Once
}

var (
	_ process.Service = (*Service)(nil)
	_ process.Failer  = (*Service)(nil)
)

// initialSync bounds how long New waits for the presence bucket's content.
const initialSync = 15 * time.Second

// New starts a realtime instance on d: its watchers (sessions and presence
// buckets), presence heartbeat, activity writer and micro service. It
// returns once the presence view is complete, so the first handshakes
// count users correctly.
func New(ctx context.Context, d process.Deps) (*Service, error) {
	if d.Infra == nil {
		return nil, errors.New("realtime: Deps.Infra is required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	cfg := d.Config
	if cfg.PresenceTimeout < 3*time.Second {
		cfg.PresenceTimeout = 30 * time.Second
	}
	m, err := newMetrics(d.Metrics)
	if err != nil {
		return nil, err
	}
	instance := newID()
	s := &Service{
		cfg: cfg, in: d.Infra, log: d.Log.With("component", "realtime", "instance", instance), now: d.Now,
		instance: instance, peerHeader: nats.Header{broker.HeaderInstance: []string{instance}}, touchEvery: touchEvery(cfg.SessionIdleTimeout), store: session.NewStore(d.Infra.Sessions),
		metrics: m, slots: newSlots(cfg.WSMaxConns, cfg.WSMaxConnsPerIP),
		limits: newLimitStore(rate{n: cfg.WSHandshakeRate.N, per: cfg.WSHandshakeRate.Per}), failed: make(chan error, 1),
	}
	s.engine = document.NewEngine(d.Infra, document.Options{MaxDocBytes: protocol.MaxDocumentBytes, Instance: instance,
		TransformBudget: cfg.DocTransformBudget, LogMaxEntries: cfg.OpsMaxPerSession, LogMaxBytes: cfg.OpsMaxBytesPerSession,
		MemoryBudget: cfg.DocMemoryBudget, UnloadAfter: cfg.DocUnloadAfter, WindowVersions: cfg.DocWindowVersions},
		d.Log, d.Now)
	if err := registerWindowGauge(d.Metrics, s.engine); err != nil {
		s.engine.Close()
		return nil, err
	}
	s.peers, s.events = d.Infra.NC, broker.NewDispatcher(0, 0)
	if d.Dial != nil {
		if s.peers, err = d.Dial(broker.ConnOptions{Name: "pairpad-realtime-peers", NoEcho: true, FlushDelay: cfg.PeerFlushDelay}); err != nil {
			s.events.Close()
			s.engine.Close()
			return nil, fmt.Errorf("realtime: peers connection: %w", err)
		}
		s.ownPeers = true
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.toucher = newToucher(s.log, s.now)
	s.presence = newPresenceTracker(d.Infra.Presence, d.Infra.PresenceInstances, instance, cfg.PresenceTimeout, s.now, s.startWatch)
	s.announcer = newAnnouncer((*room).sendPresence)
	s.hub = newHub(s.ctx, m.sessions, roomDeps{peers: s.peers, events: s.events, runs: d.Infra.Documents, store: s.store, engine: s.engine,
		log: s.log, metrics: m, now: s.now, instance: instance, maxUsers: cfg.SessionMaxUsers,
		remote: s.presence.remote, lastBeat: s.lastBeat.Load, touch: s.toucher.request, touchEvery: s.touchEvery, announce: s.announcer.due})
	s.presence.rooms = s.hub
	readBuffer := wsconn.ReadBufferSize
	if cfg.WSReader == config.ReaderEpoll {
		switch s.poller, err = wsconn.NewPoller(); {
		case errors.Is(err, wsconn.ErrNoPoller):
			s.log.Warn("WS_READER=epoll is not available here: every connection has a reader goroutine", "err", err)
		case err != nil:
			s.stopBackground()
			return nil, fmt.Errorf("realtime: %w", err)
		default:
			readBuffer = wsconn.PolledReadBufferSize
		}
	}
	s.clients = clientDeps{log: s.log, metrics: m, now: s.now, limits: s.limits, maxFrameBytes: cfg.WSMaxFrameBytes,
		sendQueue: cfg.WSSendQueue, writeTimeout: cfg.WSWriteTimeout, eventsPerSecond: cfg.WSEventsPerSecond, handle: s.handleEvent,
		submitters: newSubmitters(), poller: s.poller}
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WSHandshakeTimeout,
		// A small read buffer of its own instead of net/http's 4 KiB one,
		// which an idle connection would keep (frames larger than the
		// buffer are read into the message directly); the pool lends a
		// write buffer for one message at a time, so an idle connection
		// holds none.
		ReadBufferSize:  readBuffer,
		WriteBufferSize: 0,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // admit checks Origin, with the protocol's error
		Error:           s.upgradeError,
	}
	if err := s.start(ctx); err != nil {
		s.stopBackground()
		return nil, err
	}
	s.handler = s.routes()
	s.log.Info("realtime started", "presence_timeout", cfg.PresenceTimeout.String(), "max_connections", cfg.WSMaxConns)
	return s, nil
}

// start launches the background work.
func (s *Service) start(ctx context.Context) error {
	if err := s.watchSessions(s.ctx); err != nil {
		return fmt.Errorf("realtime: watch sessions: %w", err)
	}
	if err := s.watchRuns(s.ctx); err != nil {
		return fmt.Errorf("realtime: watch run output: %w", err)
	}
	wait := initialSync
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	// The heartbeat is stored before any entry of this instance, so the
	// others count its connections from the first.
	if err := s.heartbeat(s.ctx); err != nil {
		return fmt.Errorf("realtime: %w", err)
	}
	if err := s.presence.watch(s.ctx, wait); err != nil {
		return fmt.Errorf("realtime: %w", err)
	}
	s.bg.Add(4)
	go s.presenceLoop(s.ctx)
	go s.purgeLoop(s.ctx)
	go func() {
		defer s.bg.Done()
		s.announcer.run(s.ctx, presenceUpdateEvery(s.cfg.PresenceTimeout))
	}()
	go func() {
		defer s.bg.Done()
		s.toucher.run(s.ctx)
	}()
	if s.poller != nil {
		s.bg.Add(1)
		go s.watchPoller(s.ctx)
	}
	var err error
	if s.micro, err = s.startMicro(); err != nil {
		return err
	}
	return nil
}

// Handler serves GET /socket.io/ and GET /ws (and, when present, the
// browser client); /healthz, /readyz and /metrics belong to the process.
func (s *Service) Handler() http.Handler { return s.handler }

// Instance is this instance's id, as it appears in presence entries,
// peer messages and logs.
func (s *Service) Instance() string { return s.instance }

// Failed delivers the epoll reader's error if it fails: its connections
// are then never read again (deaf, though connected), so the instance
// cannot go on serving and the process ends (process.Failer). Their
// clients reconnect to another instance; what was acknowledged is in the
// op log.
func (s *Service) Failed() <-chan error { return s.failed }

// watchPoller reports the poller's failure on failed, until ctx ends.
func (s *Service) watchPoller(ctx context.Context) {
	defer s.bg.Done()
	select {
	case <-ctx.Done():
	case <-s.poller.Done():
		if err := s.poller.Err(); err != nil {
			s.log.Error("the epoll reader failed: no connection of this instance is read any more", "err", err)
			s.failed <- fmt.Errorf("realtime: epoll reader: %w", err)
		}
	}
}
