package testkit

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServer is an in-process NATS server with JetStream, its data in a
// test directory, on a loopback port of its own; Stop and Start restart
// it on the same port with the same data.
type NATSServer struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// StartNATS starts a server that stops when t ends.
func StartNATS(t testing.TB) *NATSServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nats server port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &NATSServer{t: t, dir: t.TempDir(), port: port}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// Start starts the server again after Stop.
func (n *NATSServer) Start() {
	n.t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir, NoSigs: true})
	if err != nil {
		n.t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats server not ready within 10s")
	}
	n.srv = srv
}

// Stop shuts the server down (a no-op when stopped).
func (n *NATSServer) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// URL is the server's nats:// URL.
func (n *NATSServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// StreamMsgIDs returns the Nats-Msg-Id of every message in stream, with
// its subject, and fails t when an ID is stored twice.
func (n *NATSServer) StreamMsgIDs(t testing.TB, stream string) map[string]string {
	t.Helper()
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	got := map[string]string{}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		id := m.Header.Get(jetstream.MsgIDHeader)
		if _, dup := got[id]; dup {
			t.Errorf("stream %s holds %s twice", stream, id)
		}
		got[id] = m.Subject
	}
	return got
}
