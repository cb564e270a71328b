package local

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DLQSuffix is appended to a queue's name to name its dead-letter queue.
const DLQSuffix = ".dlq"

// Queue is one named queue in the store, like an SQS standard queue with a
// redrive policy: a received message is invisible for its visibility
// timeout and comes back if it is not acknowledged; the receive after
// MaxReceives receives moves it to the queue's dead-letter queue with its
// last error. Queue implements pipeline.Enqueuer.
type Queue struct {
	s    *Store
	name string
}

// Queue returns the queue called name (created on first use).
func (s *Store) Queue(name string) *Queue { return &Queue{s: s, name: name} }

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// IsDLQ reports whether q is a dead-letter queue.
func (q *Queue) IsDLQ() bool { return strings.HasSuffix(q.name, DLQSuffix) }

// DLQ is q's dead-letter queue.
func (q *Queue) DLQ() *Queue { return &Queue{s: q.s, name: q.name + DLQSuffix} }

// Message is a queue message.
type Message struct {
	ID    int64
	Queue string
	// SourceQueue is, for a dead letter, the queue it came from.
	SourceQueue string
	// Receipt identifies this receive; Ack, Retry, Extend and MoveToDLQ need
	// it. It is empty on messages that were not received (DLQ listings).
	Receipt      string
	DedupID      string
	Body         []byte
	ReceiveCount int
	// EnqueuedAt is when the message was first enqueued (kept through dead
	// lettering and redrive).
	EnqueuedAt     time.Time
	VisibleAt      time.Time
	LastReceivedAt time.Time
	// LastError is the error recorded by the latest Retry or MoveToDLQ (or
	// why the message was dead-lettered).
	LastError      string
	DeadLetteredAt time.Time
	RedriveCount   int
	// Indexed attributes, taken from the JSON body ("delivery_id",
	// "target.repository", "target.workflow"); the target ones lower-case.
	DeliveryID     string
	TargetRepo     string
	TargetWorkflow string
}

// NewMessage is a message to enqueue.
type NewMessage struct {
	// DedupID drops a true duplicate: a second message with the same id on
	// the same queue within Options.DedupWindow of the first is not
	// enqueued. Empty disables deduplication for the message.
	DedupID string
	Body    []byte
	// Delay keeps the message invisible for a while.
	Delay time.Duration
	// Attributes override the ones extracted from the JSON body.
	DeliveryID, TargetRepo, TargetWorkflow string
}

const msgColumns = `id, queue, source_queue, receipt, dedup_id, body, receive_count, enqueued_at, visible_at,
	last_received_at, last_error, dead_lettered_at, redrive_count, delivery_id, target_repo, target_workflow`

func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var receipt int64
	var enq, vis int64
	var lastRecv, dead sql.NullInt64
	if err := sc.Scan(&m.ID, &m.Queue, &m.SourceQueue, &receipt, &m.DedupID, &m.Body, &m.ReceiveCount, &enq, &vis,
		&lastRecv, &m.LastError, &dead, &m.RedriveCount, &m.DeliveryID, &m.TargetRepo, &m.TargetWorkflow); err != nil {
		return Message{}, err
	}
	m.EnqueuedAt, m.VisibleAt = fromNS(enq), fromNS(vis)
	m.LastReceivedAt, m.DeadLetteredAt = nullTime(lastRecv), nullTime(dead)
	if receipt > 0 && lastRecv.Valid && !dead.Valid {
		m.Receipt = strconv.FormatInt(m.ID, 10) + "." + strconv.FormatInt(receipt, 10)
	}
	return m, nil
}

func parseReceipt(r string) (id, token int64, err error) {
	a, b, ok := strings.Cut(r, ".")
	if ok {
		id, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			token, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%w: malformed receipt %q", ErrStaleReceipt, r)
	}
	return id, token, nil
}

// attributes extracts the indexed attributes from a JSON body (a
// pipeline.Request or pipeline.WorkItem); other bodies have none.
func attributes(body []byte) (delivery, repo, workflow string) {
	var v struct {
		DeliveryID string `json:"delivery_id"`
		Target     struct {
			Repository string `json:"repository"`
			Workflow   string `json:"workflow"`
		} `json:"target"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", "", ""
	}
	return v.DeliveryID, v.Target.Repository, v.Target.Workflow
}

// Enqueue adds body to the queue; a true duplicate (same dedupID within
// the dedup window) is dropped without error.
func (q *Queue) Enqueue(ctx context.Context, dedupID string, body []byte) error {
	_, _, err := q.Send(ctx, NewMessage{DedupID: dedupID, Body: body})
	return err
}

// Send enqueues m and returns its id, or duplicate = true when it was
// dropped as a duplicate. Consumers of q in this process are woken at once.
func (q *Queue) Send(ctx context.Context, m NewMessage) (id int64, duplicate bool, err error) {
	now := q.s.now()
	err = q.s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		id, duplicate, err = q.s.enqueueTx(ctx, tx, q.name, m, now)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("enqueue on %s: %w", q.name, err)
	}
	if !duplicate {
		q.s.notify(q.name)
	}
	return id, duplicate, nil
}

// enqueueTx inserts m on queue inside tx. A dedup id seen on the queue less
// than the dedup window ago drops the message (duplicate); an older one is
// refreshed and the message enqueued.
func (s *Store) enqueueTx(ctx context.Context, tx *wtx, queue string, m NewMessage, now time.Time) (id int64, duplicate bool, err error) {
	d, r, w := m.DeliveryID, m.TargetRepo, m.TargetWorkflow
	if d == "" || (r == "" && w == "") {
		ad, ar, aw := attributes(m.Body)
		d, r, w = cmpOr(d, ad), cmpOr(r, ar), cmpOr(w, aw)
	}
	if m.Body == nil {
		m.Body = []byte{}
	}
	if m.DedupID != "" && s.opts.DedupWindow > 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO queue_dedup(queue, dedup_id, enqueued_at) VALUES (?1, ?2, ?3)
ON CONFLICT(queue, dedup_id) DO UPDATE SET enqueued_at = excluded.enqueued_at WHERE queue_dedup.enqueued_at <= ?4`,
			queue, m.DedupID, ns(now), ns(now.Add(-s.opts.DedupWindow)))
		if err != nil {
			return 0, false, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, true, nil
		}
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO queue_messages(queue, dedup_id, body, delivery_id, target_repo, target_workflow, enqueued_at, visible_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, queue, m.DedupID, m.Body, d, strings.ToLower(r), strings.ToLower(w), ns(now), ns(now.Add(max(m.Delay, 0)))).Scan(&id)
	return id, false, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Receive claims up to max visible messages (oldest first) and hides them
// for visibility (Options.VisibilityTimeout when 0). Each receive
// increments the message's receive count. A candidate that was already
// received MaxReceives times moves to the dead-letter queue instead (the
// receive that would exceed the count), keeping its last error. Concurrent
// receivers never get the same message: the claim is one UPDATE …
// RETURNING under the database write lock.
func (q *Queue) Receive(ctx context.Context, max int, visibility time.Duration) ([]Message, error) {
	if max <= 0 {
		return nil, nil
	}
	if visibility <= 0 {
		visibility = q.s.opts.VisibilityTimeout
	}
	now := q.s.now()
	// An idle queue costs a read, not a commit.
	var any int
	switch err := q.s.db.QueryRowContext(ctx, "SELECT 1 FROM queue_messages WHERE queue = ? AND visible_at <= ? LIMIT 1", q.name, ns(now)).Scan(&any); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("receive from %s: %w", q.name, err)
	}
	var out []Message
	err := q.s.write(ctx, func(ctx context.Context, tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE queue_messages SET receive_count = receive_count + 1, receipt = receipt + 1,
	visible_at = ?, last_received_at = ?
WHERE id IN (SELECT id FROM queue_messages WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?)
RETURNING `+msgColumns, ns(now.Add(visibility)), ns(now), q.name, ns(now), max)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		var over []int64
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("claim: %w", err)
			}
			if !q.IsDLQ() && m.ReceiveCount > q.s.opts.MaxReceives {
				over = append(over, m.ID)
				continue
			}
			out = append(out, m)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		// A message received MaxReceives times already goes to the
		// dead-letter queue instead (rare: only handlers that crashed the
		// process leave such messages behind).
		for _, id := range over {
			if _, err := tx.ExecContext(ctx, `UPDATE queue_messages SET queue = ?1, source_queue = queue, dead_lettered_at = ?2, visible_at = ?2,
	receive_count = receive_count - 1,
	last_error = CASE WHEN last_error = '' THEN 'not acknowledged within the visibility timeout after ' || (receive_count - 1) || ' receives' ELSE last_error END
WHERE id = ?3`, q.name+DLQSuffix, ns(now), id); err != nil {
				return fmt.Errorf("dead-letter: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.name, err)
	}
	slices.SortFunc(out, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// NextVisible returns when the earliest message of q becomes visible: a
// time not after now when one is visible already, the end of a delayed
// retry or of a visibility timeout otherwise, or the zero time when q is
// empty.
func (q *Queue) NextVisible(ctx context.Context) (time.Time, error) {
	var v sql.NullInt64
	if err := q.s.db.QueryRowContext(ctx, "SELECT MIN(visible_at) FROM queue_messages WHERE queue = ?",
		q.name).Scan(&v); err != nil {
		return time.Time{}, fmt.Errorf("next visible on %s: %w", q.name, err)
	}
	return nullTime(v), nil
}

// Wake returns a channel that is closed by the next commit in this process
// that enqueues on q (or makes a message of q visible again, or delays a
// retry). Every consumer waiting on it wakes; take a new one after each
// wake-up, before receiving, so that no enqueue is missed.
func (q *Queue) Wake() <-chan struct{} { return q.s.wakeChan(q.name) }

// Settlement is what becomes of a received message.
type Settlement int

// Settlements.
const (
	// Ack deletes the message (its work is done).
	Ack Settlement = iota + 1
	// RetryAfter makes it visible again after a delay.
	RetryAfter
	// DeadLetter moves it to the dead-letter queue.
	DeadLetter
)

// Settle says what to do with a received message, in the transaction of
// its step's effects (see Store.ApplyStep).
type Settle struct {
	Queue   string
	Receipt string
	Action  Settlement
	Delay   time.Duration // RetryAfter
	// LastError is recorded for RetryAfter and DeadLetter (empty keeps the
	// previous one on a retry).
	LastError string
}

// settleTx settles a received message inside tx; ErrStaleReceipt when the
// receipt is not the message's latest.
func (s *Store) settleTx(ctx context.Context, tx *wtx, st Settle, now time.Time) error {
	id, token, err := parseReceipt(st.Receipt)
	if err != nil {
		return err
	}
	var res sql.Result
	switch st.Action {
	case Ack:
		res, err = tx.ExecContext(ctx, "DELETE FROM queue_messages WHERE id = ? AND queue = ? AND receipt = ?", id, st.Queue, token)
	case RetryAfter:
		res, err = tx.ExecContext(ctx, "UPDATE queue_messages SET visible_at = ?1, last_error = CASE WHEN ?2 = '' THEN last_error ELSE ?2 END WHERE id = ?3 AND queue = ?4 AND receipt = ?5",
			ns(now.Add(max(st.Delay, 0))), st.LastError, id, st.Queue, token)
	case DeadLetter:
		msg := st.LastError
		if msg == "" {
			msg = "dead-lettered by the worker"
		}
		res, err = tx.ExecContext(ctx, "UPDATE queue_messages SET queue = ?1, source_queue = queue, dead_lettered_at = ?2, visible_at = ?2, last_error = ?3 WHERE id = ?4 AND queue = ?5 AND receipt = ?6",
			st.Queue+DLQSuffix, ns(now), msg, id, st.Queue, token)
	default:
		return fmt.Errorf("settle: unknown action %d", st.Action)
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("message %d: %w", id, ErrStaleReceipt)
	}
	return nil
}

// byReceipt settles one message in its own transaction.
func (q *Queue) byReceipt(ctx context.Context, op string, st Settle) error {
	st.Queue = q.name
	err := q.s.write(ctx, func(ctx context.Context, tx *wtx) error {
		return q.s.settleTx(ctx, tx, st, q.s.now())
	})
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op, q.name, err)
	}
	return nil
}

// Ack deletes a received message (its work is done).
func (q *Queue) Ack(ctx context.Context, receipt string) error {
	return q.byReceipt(ctx, "ack", Settle{Receipt: receipt, Action: Ack})
}

// Retry makes a received message visible again after delay and records
// lastError (an empty lastError keeps the previous one, e.g. when a worker
// only gives a message back at shutdown); the next receive counts towards
// MaxReceives.
func (q *Queue) Retry(ctx context.Context, receipt string, delay time.Duration, lastError string) error {
	if err := q.byReceipt(ctx, "retry", Settle{Receipt: receipt, Action: RetryAfter, Delay: delay, LastError: lastError}); err != nil {
		return err
	}
	// Idle consumers recompute when the next message is due.
	q.s.notify(q.name)
	return nil
}

// Extend changes the visibility timeout of a received message to d from
// now (like SQS ChangeMessageVisibility).
func (q *Queue) Extend(ctx context.Context, receipt string, d time.Duration) error {
	return q.byReceipt(ctx, "extend visibility", Settle{Receipt: receipt, Action: RetryAfter, Delay: d})
}

// MoveToDLQ moves a received message to the dead-letter queue at once,
// with lastError (a permanent failure an operator may replay later).
func (q *Queue) MoveToDLQ(ctx context.Context, receipt, lastError string) error {
	return q.byReceipt(ctx, "dead-letter", Settle{Receipt: receipt, Action: DeadLetter, LastError: lastError})
}

// Filter selects dead letters. Empty fields match everything; target
// matches are case-insensitive.
type Filter struct {
	IDs            []int64
	DeliveryID     string
	TargetRepo     string
	TargetWorkflow string
	// Limit caps the number of messages (0 = no limit), oldest first.
	Limit int
}

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	if len(f.IDs) > 0 {
		conds = append(conds, "id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(f.IDs)), ",")+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	for _, c := range []struct{ col, v string }{
		{"delivery_id", f.DeliveryID}, {"target_repo", strings.ToLower(f.TargetRepo)}, {"target_workflow", strings.ToLower(f.TargetWorkflow)},
	} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

// ListDLQ lists the messages of q's dead-letter queue that match f, oldest
// dead letter first, without changing them.
func (q *Queue) ListDLQ(ctx context.Context, f Filter) ([]Message, error) {
	w, args := f.where()
	query := "SELECT " + msgColumns + " FROM queue_messages WHERE queue = ? AND dead_lettered_at IS NOT NULL" + w + " ORDER BY dead_lettered_at, id"
	if f.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := q.s.db.QueryContext(ctx, query, append([]any{q.name + DLQSuffix}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list %s%s: %w", q.name, DLQSuffix, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s%s: %w", q.name, DLQSuffix, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s%s: %w", q.name, DLQSuffix, err)
	}
	return out, nil
}

// InspectDLQ returns one dead letter of q by id (ErrNotFound if it is not
// in q's dead-letter queue).
func (q *Queue) InspectDLQ(ctx context.Context, id int64) (Message, error) {
	m, err := scanMessage(q.s.db.QueryRowContext(ctx, "SELECT "+msgColumns+" FROM queue_messages WHERE queue = ? AND id = ?", q.name+DLQSuffix, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("dead letter %d in %s: %w", id, q.name, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("dead letter %d in %s: %w", id, q.name, err)
	}
	return m, nil
}

// Redrive moves the dead letters of q that match f back to q, visible at
// once, with their receive count reset (their last error is kept), and
// returns them as they are after the move. It is one transaction.
func (q *Queue) Redrive(ctx context.Context, f Filter) ([]Message, error) {
	w, args := f.where()
	sel := "SELECT id FROM queue_messages WHERE queue = ? AND dead_lettered_at IS NOT NULL" + w + " ORDER BY dead_lettered_at, id"
	if f.Limit > 0 {
		sel += " LIMIT " + strconv.Itoa(f.Limit)
	}
	now := q.s.now()
	var out []Message
	err := q.s.write(ctx, func(ctx context.Context, tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE queue_messages SET queue = ?, source_queue = '', receive_count = 0, visible_at = ?,
	dead_lettered_at = NULL, last_received_at = NULL, redrive_count = redrive_count + 1
WHERE id IN (`+sel+`) RETURNING `+msgColumns, append([]any{q.name, ns(now), q.name + DLQSuffix}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("redrive %s%s: %w", q.name, DLQSuffix, err)
	}
	if len(out) > 0 {
		q.s.notify(q.name)
	}
	slices.SortFunc(out, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// QueueStats are the message counts of a queue.
type QueueStats struct {
	Visible     int64 `json:"visible"`     // ready to be received
	NotVisible  int64 `json:"not_visible"` // in flight or delayed
	DeadLetters int64 `json:"dead_letters"`
	// OldestVisible is the first enqueue time of the oldest visible message.
	OldestVisible time.Time `json:"oldest_visible,omitzero"`
}

// Stats counts q's messages.
func (q *Queue) Stats(ctx context.Context) (QueueStats, error) {
	now := ns(q.s.now())
	var st QueueStats
	var oldest sql.NullInt64
	err := q.s.db.QueryRowContext(ctx, `SELECT
	COALESCE(SUM(CASE WHEN queue = ?1 AND visible_at <= ?3 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN queue = ?1 AND visible_at > ?3 THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN queue = ?2 THEN 1 ELSE 0 END), 0),
	MIN(CASE WHEN queue = ?1 AND visible_at <= ?3 THEN enqueued_at END)
FROM queue_messages WHERE queue IN (?1, ?2)`, q.name, q.name+DLQSuffix, now).Scan(&st.Visible, &st.NotVisible, &st.DeadLetters, &oldest)
	if err != nil {
		return QueueStats{}, fmt.Errorf("stats of %s: %w", q.name, err)
	}
	st.OldestVisible = nullTime(oldest)
	return st, nil
}
