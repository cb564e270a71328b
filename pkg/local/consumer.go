package local

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

var (
	_ pipeline.Consumer = (*Consumer)(nil)
	_ pipeline.Outcomes = (*Store)(nil)
)

// Consumer adapts a Queue to pipeline.Consumer (the receiving side used by
// pipeline.RunWorker).
type Consumer struct{ q *Queue }

// Consumer returns q's pipeline.Consumer.
func (q *Queue) Consumer() *Consumer { return &Consumer{q: q} }

// Receive implements pipeline.Consumer; MaxReceives is the store's.
func (c *Consumer) Receive(ctx context.Context, max int, visibility time.Duration) ([]pipeline.Message, error) {
	ms, err := c.q.Receive(ctx, max, visibility)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.Message, len(ms))
	for i, m := range ms {
		out[i] = pipeline.Message{ID: strconv.FormatInt(m.ID, 10), Handle: m.Receipt, Body: m.Body,
			ReceiveCount: m.ReceiveCount, MaxReceives: c.q.s.opts.MaxReceives}
	}
	return out, nil
}

// Ack implements pipeline.Consumer.
func (c *Consumer) Ack(ctx context.Context, handle string) error { return c.q.Ack(ctx, handle) }

// Retry implements pipeline.Consumer; a nil lastErr keeps the previous
// error.
func (c *Consumer) Retry(ctx context.Context, handle string, delay time.Duration, lastErr error) error {
	return c.q.Retry(ctx, handle, delay, errText(lastErr))
}

// DeadLetter implements pipeline.Consumer.
func (c *Consumer) DeadLetter(ctx context.Context, handle string, lastErr error) error {
	msg := errText(lastErr)
	if msg == "" {
		msg = "dead-lettered by the worker"
	}
	return c.q.MoveToDLQ(ctx, handle, msg)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Put implements pipeline.Outcomes: it stores o under (deliveryID,
// o.Index), replacing an earlier one, and returns every unexpired outcome
// of the delivery ordered by index, in one transaction. Records live
// Options.OutcomeTTL.
func (s *Store) Put(ctx context.Context, deliveryID string, o pipeline.Outcome) ([]pipeline.Outcome, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("put outcome of %s: %w", deliveryID, err)
	}
	now := s.now()
	var out []pipeline.Outcome
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outcomes(delivery_id, idx, outcome, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT(delivery_id, idx) DO UPDATE SET outcome = ?3, expires_at = ?4`, deliveryID, o.Index, string(b), ns(now.Add(s.opts.OutcomeTTL))); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT outcome FROM outcomes WHERE delivery_id = ? AND expires_at > ? ORDER BY idx", deliveryID, ns(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			var oc pipeline.Outcome
			if err := json.Unmarshal([]byte(v), &oc); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
			out = append(out, oc)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("put outcome of %s: %w", deliveryID, err)
	}
	return out, nil
}
