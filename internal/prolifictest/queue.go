package prolifictest

import "sync"

// queue is an unbounded FIFO of delivery jobs shared by the workers. It is
// unbounded so that emitting an event (done while holding Fake.mu) never
// blocks on a busy worker.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []*deliveryRecord
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) push(d *deliveryRecord) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.items = append(q.items, d)
	q.cond.Signal()
}

// pop blocks for the next job; ok is false once the queue is closed.
func (q *queue) pop() (d *deliveryRecord, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, false
	}
	d = q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return d, true
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.items = nil
	q.cond.Broadcast()
}
