package local

import (
	"fmt"
	"testing"
	"time"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

func BenchmarkEnqueueReceiveAck(b *testing.B) {
	s := openTemp(b, nil, Options{Synchronous: "NORMAL"})
	q := s.Queue("targets")
	body := []byte(`{"delivery_id":"d","target":{"repository":"acme/deploy","workflow":"cd.yml"}}`)
	b.ResetTimer()
	for i := range b.N {
		if err := q.Enqueue(ctx, fmt.Sprint(i), body); err != nil {
			b.Fatal(err)
		}
		ms, err := q.Receive(ctx, 1, time.Minute)
		if err != nil || len(ms) != 1 {
			b.Fatal(ms, err)
		}
		if err := q.Ack(ctx, ms[0].Receipt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			s := openTemp(b, nil, Options{Synchronous: sync})
			t0 := time.Now()
			b.ResetTimer()
			for i := range b.N {
				e := target(testEvent(facts.TypeTriggerSucceeded, t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("d%d", i%100), "acme/api"), fmt.Sprintf("t/%d", i))
				if err := s.Publish(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
