package outputs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS publishes each message to JetStream on a subject rendered from the
// output's template, with Nats-Msg-Id set to the event ID so the stream's
// duplicate window drops a retry of a publish that was stored but whose
// ack was lost. A message is delivered only once JetStream acked it.
type NATS struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	s       NATSSettings
	mu      sync.Mutex
	hasStrm bool // the stream was created or found (when one is configured)
}

// DialNATS connects to s.URL. The connection is kept and re-established
// for the receiver's lifetime; a server that is down at start-up is
// connected to once it is up (publishes fail and are retried until then).
func DialNATS(s NATSSettings, name string) (*NATS, error) {
	nc, err := nats.Connect(s.URL, nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second), nats.Timeout(s.Timeout))
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &NATS{nc: nc, js: js, s: s}, nil
}

// Deliver publishes body and waits for JetStream's ack, within the
// output's timeout. A PubAck flagged duplicate is delivered: JetStream
// stored the message before.
func (n *NATS) Deliver(ctx context.Context, m Message, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.s.Timeout)
	defer cancel()
	if err := n.ensureStream(ctx); err != nil {
		return &RetryError{Reason: err.Error()}
	}
	msg := nats.NewMsg(n.s.Subject.Render(m))
	msg.Header.Set(jetstream.MsgIDHeader, m.EventID)
	msg.Header.Set("Content-Type", "application/json")
	msg.Data = body
	if _, err := n.js.PublishMsg(ctx, msg); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &RetryError{Reason: "timed out waiting for JetStream's ack"}
		}
		return &RetryError{Reason: "publish: " + err.Error()}
	}
	return nil
}

// ensureStream creates the configured stream once, unless it exists.
func (n *NATS) ensureStream(ctx context.Context) error {
	if n.s.Stream == "" {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.hasStrm {
		return nil
	}
	_, err := n.js.CreateStream(ctx, jetstream.StreamConfig{Name: n.s.Stream, Subjects: n.s.StreamSubjects,
		Storage: jetstream.FileStorage, Duplicates: DuplicateWindow})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", n.s.Stream, err)
	}
	n.hasStrm = true
	return nil
}

// DuplicateWindow is the duplicate window of a stream the receiver
// creates: JetStream drops a message whose Nats-Msg-Id it stored within
// it. Retries of one event are spread over at most the back-off cap.
const DuplicateWindow = 2 * time.Hour

// Close drains and closes the connection.
func (n *NATS) Close() error {
	n.nc.Close()
	return nil
}
