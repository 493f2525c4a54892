package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pairpad/pairpad/shared/token"
)

// prepared is the REST part of setting up sessions.
type prepared struct {
	sessions       []*session
	create, join   Samples
	errors         map[string]int64
	seconds        float64
	failedSessions int
}

// prepare creates n sessions of users users each over REST, and gets each
// user a join token. Users are registered but not connected.
func (f *fleet) prepare(ctx context.Context, n, users int) prepared {
	start := time.Now()
	p := prepared{errors: map[string]int64{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.opts.Concurrency)
	for range n {
		g.Go(func() error {
			s, create, join, err := f.prepareOne(gctx, users)
			mu.Lock()
			defer mu.Unlock()
			p.create = append(p.create, create...)
			p.join = append(p.join, join...)
			if err != nil {
				p.errors[errorClass(err)]++
				p.failedSessions++
				return nil
			}
			p.sessions = append(p.sessions, s)
			return nil
		})
	}
	_ = g.Wait()
	f.mu.Lock()
	f.sessions = append(f.sessions, p.sessions...)
	f.mu.Unlock()
	p.seconds = time.Since(start).Seconds()
	return p
}

func (f *fleet) prepareOne(ctx context.Context, users int) (*session, Samples, Samples, error) {
	var create, join Samples
	t0 := time.Now()
	rec, err := f.api.CreateSession(ctx, f.opts.Language)
	create.Add(time.Since(t0))
	if err != nil {
		return nil, create, join, fmt.Errorf("create session: %w", err)
	}
	s := &session{id: rec.ID}
	f.mu.Lock()
	ord := f.nextSession
	f.nextSession++
	f.mu.Unlock()
	for j := range users {
		f.mu.Lock()
		idx := f.nextUser
		f.nextUser++
		f.mu.Unlock()
		inst := instanceOf(ord, j, len(f.opts.WSURLs))
		if f.opts.Colocate {
			inst = instanceOf(ord, 0, len(f.opts.WSURLs))
		}
		u := newUser(f, s, idx, f.opts.WSURLs[inst])
		u.slot = j
		switch {
		case f.opts.Legacy:
		case f.opts.TokenSecret != "":
			u.token = token.Sign([]byte(f.opts.TokenSecret), token.Claims{
				SessionID: s.id, UserID: u.id, UserName: u.name, Expiry: time.Now().Add(24 * time.Hour).Unix()})
		default:
			t1 := time.Now()
			resp, err := f.api.Join(ctx, s.id, u.id, u.name)
			join.Add(time.Since(t1))
			if err != nil {
				return nil, create, join, fmt.Errorf("join: %w", err)
			}
			u.token = resp.Token
		}
		s.users = append(s.users, u)
	}
	f.mu.Lock()
	for _, u := range s.users {
		f.byID[u.id] = u
	}
	f.mu.Unlock()
	return s, create, join, nil
}

// instanceOf is which of n realtime instances member j of the ord-th
// session dials: consecutive instances from a place that moves on with each
// session, so the members of a session meet on different instances when
// there are several (every session crosses instances) and every instance
// carries an equal share even when a session has fewer members than there
// are instances (sessions of 2 over 3 instances).
func instanceOf(ord, j, n int) int { return (ord + j) % n }

// connected is the WebSocket part of setting up sessions.
type connected struct {
	attempted, ok int
	handshake     Samples
	errors        map[string]int64
	retries       map[string]int64
	seconds       float64
}

// connect opens the WebSocket of every user of sessions.
func (f *fleet) connect(ctx context.Context, sessions []*session) connected {
	start := time.Now()
	c := connected{errors: map[string]int64{}, retries: map[string]int64{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.opts.Concurrency)
	for _, s := range sessions {
		for _, u := range s.users {
			g.Go(func() error {
				d, retried, err := u.dial(gctx)
				mu.Lock()
				defer mu.Unlock()
				c.attempted++
				for _, r := range retried {
					c.retries[r]++
				}
				if err != nil {
					c.errors[errorClass(err)]++
					return nil
				}
				c.ok++
				c.handshake.Add(d)
				return nil
			})
		}
	}
	_ = g.Wait()
	c.seconds = time.Since(start).Seconds()
	return c
}

// connectStats merges the two halves of a set-up.
func (f *fleet) connectStats(p prepared, c connected) *ConnectStats {
	cs := &ConnectStats{
		Attempted: c.attempted, Connected: c.ok, Failed: c.attempted - c.ok + p.failedSessions,
		Errors: map[string]int64{}, Retries: c.retries, Seconds: round3(c.seconds), Handshake: c.handshake.Summarize(),
		PrepareSeconds: round3(p.seconds), Create: p.create.Summarize(), Join: p.join.Summarize(),
	}
	if c.seconds > 0 {
		cs.PerSecond = round1(float64(c.ok) / c.seconds)
	}
	for k, v := range p.errors {
		cs.Errors["prepare:"+k] += v
	}
	for k, v := range c.errors {
		cs.Errors["connect:"+k] += v
	}
	if f.opts.KeepRaw {
		cs.Raw = map[string]Samples{"handshake": c.handshake, "create": p.create, "join": p.join}
	}
	return cs
}

// errorClass turns an error into a short, countable label: the protocol
// code when the server gave one.
func errorClass(err error) string {
	var re *RefusedError
	var se *StatusError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return re.Code
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "TIMEOUT"
	case errors.Is(err, context.Canceled):
		return "CANCELED"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "NET:" + errno.Error()
	}
	return "ERROR:" + shorten(err.Error())
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60]
	}
	return s
}
