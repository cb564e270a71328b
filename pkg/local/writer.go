package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// DefaultMaxBatch is the largest number of write jobs one group commit
// holds (Options.MaxBatch).
const DefaultMaxBatch = 256

// ErrClosed is returned by a write submitted after Close.
var ErrClosed = errors.New("store is closed")

// wtx is the transaction a write job runs in. Its Exec, Query and QueryRow
// use statements prepared once on the write connection and reused by every
// later job (modernc.org/sqlite parses a statement on each prepare, which
// costs more than running most of ours).
type wtx struct {
	*sql.Tx
	w *writer
}

// stmt returns query prepared for this transaction: the cached statement
// when there is one; otherwise a statement prepared on the transaction (the
// connection is busy with it), and the writer prepares the cached one after
// the commit.
func (t *wtx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	t.w.stmtMu.Lock()
	st, ok := t.w.stmts[query]
	if !ok {
		t.w.toPrepare[query] = true
	}
	t.w.stmtMu.Unlock()
	if !ok {
		return t.Tx.PrepareContext(ctx, query)
	}
	return t.Tx.StmtContext(ctx, st), nil
}

// ExecContext runs query with a cached prepared statement.
func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query with a cached prepared statement.
func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query with a cached prepared statement.
func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		// A Row carrying the error: run the query unprepared, which fails
		// the same way when Scan is called.
		return t.Tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// writeJob is one caller's transaction body in a group commit.
type writeJob struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *wtx) error
	err  error
	done chan struct{}
}

// writer owns the store's one write connection. Callers submit jobs; the
// writer runs every job waiting at that moment (up to maxBatch) in one
// transaction, each inside its own savepoint, and commits once: a job that
// fails is rolled back to its savepoint without touching the others, and
// when the commit fails every job of the batch fails with it. A caller is
// released only after the commit that holds its job (durable with
// synchronous=FULL). Batches form by themselves: while one commit waits
// for the disk, the next jobs queue up behind it.
type writer struct {
	db       *sql.DB
	jobs     chan *writeJob
	maxBatch int
	// hook, set by tests, runs after each job of a batch ran (before the
	// commit); an error fails the commit of the whole batch.
	hook func(batch int) error

	stmtMu    sync.Mutex
	stmts     map[string]*sql.Stmt
	toPrepare map[string]bool

	mu     sync.RWMutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newWriter(db *sql.DB, maxBatch int) *writer {
	w := &writer{db: db, jobs: make(chan *writeJob, maxBatch), maxBatch: maxBatch, stop: make(chan struct{}),
		stmts: map[string]*sql.Stmt{}, toPrepare: map[string]bool{}}
	w.wg.Add(1)
	go w.loop()
	return w
}

// do runs fn in a group-committed transaction and returns its error, or
// the commit's. A job whose context ended before its batch started is not
// run (ctx.Err()). Once a job is in a batch the caller waits for the
// commit, whatever its context says, so that an error always means "not
// committed" and nil always means "durable".
func (w *writer) do(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) error {
	j := &writeJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.jobs <- j:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	<-j.done
	return j.err
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*writeJob, 0, w.maxBatch)
	for {
		var first *writeJob
		select {
		case first = <-w.jobs:
		case <-w.stop:
			// Close stopped new submissions; run what is already queued.
			for {
				select {
				case j := <-w.jobs:
					w.commit([]*writeJob{j})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case j := <-w.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

// prepare caches the statements the last batch met for the first time
// (the connection is free between batches).
func (w *writer) prepare() {
	w.stmtMu.Lock()
	defer w.stmtMu.Unlock()
	for q := range w.toPrepare {
		if st, err := w.db.PrepareContext(context.Background(), q); err == nil {
			w.stmts[q] = st
		}
		delete(w.toPrepare, q)
	}
}

// commit runs one batch in one transaction.
func (w *writer) commit(batch []*writeJob) {
	defer func() {
		for _, j := range batch {
			close(j.done)
		}
		w.prepare()
	}()
	run := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		run = append(run, j)
	}
	if len(run) == 0 {
		return
	}
	ctx := context.Background()
	stx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		for _, j := range run {
			j.err = fmt.Errorf("begin: %w", err)
		}
		return
	}
	tx := &wtx{Tx: stx, w: w}
	single := len(run) == 1
	ok := 0
	for _, j := range run {
		jctx := context.WithoutCancel(j.ctx)
		if single {
			j.err = runJob(jctx, tx, j.fn)
		} else {
			j.err = runSavepoint(jctx, tx, j.fn)
		}
		if j.err == nil {
			ok++
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		return
	}
	if w.hook != nil {
		if err := w.hook(len(run)); err != nil {
			_ = tx.Rollback()
			failAll(run, fmt.Errorf("commit: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		failAll(run, fmt.Errorf("commit: %w", err))
	}
}

func failAll(run []*writeJob, err error) {
	for _, j := range run {
		if j.err == nil {
			j.err = err
		}
	}
}

// runJob runs fn, turning a panic into an error.
func runJob(ctx context.Context, tx *wtx, fn func(context.Context, *wtx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write panicked: %v", r)
		}
	}()
	return fn(ctx, tx)
}

// runSavepoint runs fn inside a savepoint, rolling back to it when fn
// fails.
func runSavepoint(ctx context.Context, tx *wtx, fn func(context.Context, *wtx) error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	err := runJob(ctx, tx, fn)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO job"); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
	}
	if _, rerr := tx.ExecContext(ctx, "RELEASE job"); rerr != nil {
		return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr))
	}
	return err
}

// close stops accepting jobs, runs the queued ones and waits for the loop.
func (w *writer) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	w.wg.Wait()
	w.stmtMu.Lock()
	for _, st := range w.stmts {
		st.Close()
	}
	w.stmtMu.Unlock()
}
