package natstest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is n JetStream servers clustered on loopback.
type Cluster struct {
	t       testing.TB
	Servers []*server.Server
	opts    []*server.Options
}

// StartCluster runs an n-node JetStream cluster until the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	clusterPorts := make([]int, n)
	for i := range clusterPorts {
		clusterPorts[i] = FreePort(t)
	}
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	for i := 0; i < n; i++ {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: FreePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "pairpad-test", Host: "127.0.0.1", Port: clusterPorts[i]},
			Routes:  routes,
		}
		s := c.launch(o)
		// A port FreePort found free can be taken before the node listens
		// on it (another process's outgoing connection): the node then
		// never becomes ready. It starts again on a new client port, then
		// on a new cluster port too: its own routes still reach the other
		// nodes, which is all gossip needs.
		for attempt := 1; s == nil && attempt < 3; attempt++ {
			o.Port = FreePort(t)
			if attempt == 2 {
				o.Cluster.Port = FreePort(t)
			}
			s = c.launch(o)
		}
		if s == nil {
			t.Fatalf("nats node %s did not start", o.ServerName)
		}
		c.opts = append(c.opts, o)
		c.Servers = append(c.Servers, s)
	}
	t.Cleanup(func() {
		for _, s := range c.Servers {
			if s != nil {
				s.Shutdown()
				s.WaitForShutdown()
			}
		}
	})
	c.WaitJetStream(30 * time.Second)
	return c
}

func (c *Cluster) startNode(o *server.Options) *server.Server {
	c.t.Helper()
	s := c.launch(o)
	if s == nil {
		c.t.Fatalf("nats node %s did not start", o.ServerName)
	}
	return s
}

// launch starts a node and waits until it takes connections; a node that
// does not (its ports were taken) is shut down and launch returns nil.
func (c *Cluster) launch(o *server.Options) *server.Server {
	c.t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		c.t.Fatalf("nats node %s: %v", o.ServerName, err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil
	}
	return s
}

// URLs is every node's client URL, comma-separated, as NATS_URL takes them.
func (c *Cluster) URLs() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// ConnectEach opens one client connection to each node, each only to its
// node (no reconnecting elsewhere), closed when the test ends: a test that
// writes through one and reads through another reads from another server.
func (c *Cluster) ConnectEach(t testing.TB) []*nats.Conn {
	t.Helper()
	var out []*nats.Conn
	for i, s := range c.Servers {
		nc, err := nats.Connect(s.ClientURL(), nats.Name(fmt.Sprintf("node-%d", i+1)), nats.NoReconnect())
		if err != nil {
			t.Fatalf("connect to node %d: %v", i+1, err)
		}
		t.Cleanup(nc.Close)
		out = append(out, nc)
	}
	return out
}

// Stop shuts node i down.
func (c *Cluster) Stop(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.Servers[i] = nil
	}
}

// Restart starts node i again with its store and ports.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	c.Servers[i] = c.startNode(c.opts[i])
}

// WaitJetStream waits until the running nodes agree on a JetStream meta leader.
func (c *Cluster) WaitJetStream(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, s := range c.Servers {
			if s != nil && s.JetStreamIsLeader() {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("the cluster elected no JetStream meta leader")
}
