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
// dropped as a duplicate.
func (q *Queue) Send(ctx context.Context, m NewMessage) (id int64, duplicate bool, err error) {
	now := q.s.now()
	d, r, w := attributes(m.Body)
	d, r, w = cmpOr(m.DeliveryID, d), cmpOr(m.TargetRepo, r), cmpOr(m.TargetWorkflow, w)
	if m.Body == nil {
		m.Body = []byte{}
	}
	err = q.s.write(ctx, func(tx *sql.Tx) error {
		if m.DedupID != "" && q.s.opts.DedupWindow > 0 {
			if _, err := tx.ExecContext(ctx, "DELETE FROM queue_dedup WHERE queue = ? AND dedup_id = ? AND enqueued_at <= ?",
				q.name, m.DedupID, ns(now.Add(-q.s.opts.DedupWindow))); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, "INSERT INTO queue_dedup(queue, dedup_id, enqueued_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
				q.name, m.DedupID, ns(now))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				duplicate = true
				return nil
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO queue_messages(queue, dedup_id, body, delivery_id, target_repo, target_workflow, enqueued_at, visible_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, q.name, m.DedupID, m.Body, d, strings.ToLower(r), strings.ToLower(w), ns(now), ns(now.Add(max(m.Delay, 0)))).Scan(&id)
	})
	if err != nil {
		return 0, false, fmt.Errorf("enqueue on %s: %w", q.name, err)
	}
	return id, duplicate, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Receive claims up to max visible messages (oldest first) and hides them
// for visibility (Options.VisibilityTimeout when 0). Each receive
// increments the message's receive count. Before claiming, every visible
// message that was already received MaxReceives times moves to the
// dead-letter queue (the receive that would exceed the count), keeping its
// last error. Concurrent receivers never get the same message: the claim
// is one UPDATE … RETURNING under the database write lock.
func (q *Queue) Receive(ctx context.Context, max int, visibility time.Duration) ([]Message, error) {
	if max <= 0 {
		return nil, nil
	}
	if visibility <= 0 {
		visibility = q.s.opts.VisibilityTimeout
	}
	now := q.s.now()
	var out []Message
	err := q.s.write(ctx, func(tx *sql.Tx) error {
		if !q.IsDLQ() {
			if _, err := tx.ExecContext(ctx, `UPDATE queue_messages SET queue = ?, source_queue = queue, dead_lettered_at = ?, visible_at = ?,
	last_error = CASE WHEN last_error = '' THEN 'not acknowledged within the visibility timeout after ' || receive_count || ' receives' ELSE last_error END
WHERE queue = ? AND visible_at <= ? AND receive_count >= ?`, q.name+DLQSuffix, ns(now), ns(now), q.name, ns(now), q.s.opts.MaxReceives); err != nil {
				return fmt.Errorf("dead-letter: %w", err)
			}
		}
		rows, err := tx.QueryContext(ctx, `UPDATE queue_messages SET receive_count = receive_count + 1, receipt = receipt + 1,
	visible_at = ?, last_received_at = ?
WHERE id IN (SELECT id FROM queue_messages WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?)
RETURNING `+msgColumns, ns(now.Add(visibility)), ns(now), q.name, ns(now), max)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.name, err)
	}
	slices.SortFunc(out, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// byReceipt runs an update or delete on the message a receipt names; it
// fails with ErrStaleReceipt when the receipt is not the message's latest.
func (q *Queue) byReceipt(ctx context.Context, op, receipt, query string, args ...any) error {
	id, token, err := parseReceipt(receipt)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op, q.name, err)
	}
	var n int64
	err = q.s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query+" WHERE id = ? AND queue = ? AND receipt = ?", append(args, id, q.name, token)...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op, q.name, err)
	}
	if n == 0 {
		return fmt.Errorf("%s on %s: message %d: %w", op, q.name, id, ErrStaleReceipt)
	}
	return nil
}

// Ack deletes a received message (its work is done).
func (q *Queue) Ack(ctx context.Context, receipt string) error {
	return q.byReceipt(ctx, "ack", receipt, "DELETE FROM queue_messages")
}

// Retry makes a received message visible again after delay and records
// lastError (an empty lastError keeps the previous one, e.g. when a worker
// only gives a message back at shutdown); the next receive counts towards
// MaxReceives.
func (q *Queue) Retry(ctx context.Context, receipt string, delay time.Duration, lastError string) error {
	return q.byReceipt(ctx, "retry", receipt, "UPDATE queue_messages SET visible_at = ?, last_error = CASE WHEN ? = '' THEN last_error ELSE ? END",
		ns(q.s.now().Add(max(delay, 0))), lastError, lastError)
}

// Extend changes the visibility timeout of a received message to d from
// now (like SQS ChangeMessageVisibility).
func (q *Queue) Extend(ctx context.Context, receipt string, d time.Duration) error {
	return q.byReceipt(ctx, "extend visibility", receipt, "UPDATE queue_messages SET visible_at = ?", ns(q.s.now().Add(max(d, 0))))
}

// MoveToDLQ moves a received message to the dead-letter queue at once,
// with lastError (a permanent failure an operator may replay later).
func (q *Queue) MoveToDLQ(ctx context.Context, receipt, lastError string) error {
	now := q.s.now()
	return q.byReceipt(ctx, "dead-letter", receipt,
		"UPDATE queue_messages SET queue = ?, source_queue = queue, dead_lettered_at = ?, visible_at = ?, last_error = ?",
		q.name+DLQSuffix, ns(now), ns(now), lastError)
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
	query := "SELECT " + msgColumns + " FROM queue_messages WHERE queue = ?" + w + " ORDER BY dead_lettered_at, id"
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
	sel := "SELECT id FROM queue_messages WHERE queue = ?" + w + " ORDER BY dead_lettered_at, id"
	if f.Limit > 0 {
		sel += " LIMIT " + strconv.Itoa(f.Limit)
	}
	now := q.s.now()
	var out []Message
	err := q.s.write(ctx, func(tx *sql.Tx) error {
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
