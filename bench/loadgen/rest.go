package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pairpad/pairpad/shared/protocol"
)

// API is a client of the session REST API.
type API struct {
	base string
	hc   *http.Client
}

// NewAPI returns a client of the api at base (http://host:port) that keeps
// up to conns connections open, spread over the source addresses.
func NewAPI(base string, conns int, sources []net.IP) *API {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         dialer.DialContext,
	}
	if len(sources) > 0 {
		var next atomic.Uint64
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ip := sources[next.Add(1)%uint64(len(sources))]
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
			return d.DialContext(ctx, network, addr)
		}
	}
	return &API{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// StatusError is a REST call answered with an error status.
type StatusError struct {
	Status int
	Code   string
}

// Error names the status and the code.
func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d %s", e.Status, e.Code) }

// CreateSession creates a session in language.
func (a *API) CreateSession(ctx context.Context, language string) (protocol.Session, error) {
	var s protocol.Session
	err := a.call(ctx, http.MethodPost, "/api/sessions", map[string]string{"language": language}, http.StatusCreated, &s)
	return s, err
}

// Join joins session id as user and returns the join token.
func (a *API) Join(ctx context.Context, id, userID, userName string) (protocol.JoinResponse, error) {
	var j protocol.JoinResponse
	err := a.call(ctx, http.MethodPost, "/api/sessions/"+id+"/join",
		protocol.JoinRequest{UserID: userID, UserName: userName}, http.StatusOK, &j)
	return j, err
}

func (a *API) call(ctx context.Context, method, path string, body any, want int, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = fmt.Sprintf("HTTP_%d", resp.StatusCode)
		}
		return &StatusError{Status: resp.StatusCode, Code: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Close drops the idle connections.
func (a *API) Close() { a.hc.CloseIdleConnections() }
