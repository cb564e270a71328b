package local

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
)

var _ pipeline.Outcomes = (*Store)(nil)

// Put implements pipeline.Outcomes: it stores o under (deliveryID,
// o.Index), replacing an earlier one, and returns every unexpired outcome
// of the delivery ordered by index, in one transaction. Records live
// Options.OutcomeTTL.
func (s *Store) Put(ctx context.Context, deliveryID string, o pipeline.Outcome) ([]pipeline.Outcome, error) {
	now := s.now()
	var out []pipeline.Outcome
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if err := s.putOutcomeTx(ctx, tx, deliveryID, o, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT outcome FROM outcomes WHERE delivery_id = ? AND expires_at > ? ORDER BY idx", deliveryID, ns(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		out = out[:0]
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

func (s *Store) putOutcomeTx(ctx context.Context, tx *wtx, deliveryID string, o pipeline.Outcome, now time.Time) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO outcomes(delivery_id, idx, outcome, expires_at) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT(delivery_id, idx) DO UPDATE SET outcome = ?3, expires_at = ?4`, deliveryID, o.Index, string(b), ns(now.Add(s.opts.OutcomeTTL)))
	return err
}
