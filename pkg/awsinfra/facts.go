package awsinfra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dispatcher-dev/dispatcher/pkg/facts"
)

// Retention defaults of the facts tables.
const (
	// DefaultRetention is how long facts, delivery funnels, failures and
	// hourly buckets live (expires_at); summary and repository counters
	// never expire.
	DefaultRetention = 30 * 24 * time.Hour
	// MinuteRetention is how long per-minute top-repository buckets live.
	MinuteRetention = 2 * time.Hour
)

// Partition keys of the projections table; the sort key orders each
// listing.
const (
	projSummary  = "summary"  // sk "-"
	projRepo     = "repo"     // sk repository
	projHour     = "hour"     // sk zero-padded Unix hour
	projMinute   = "minute"   // sk "<zero-padded Unix minute>#<repo>"
	projDelivery = "delivery" // sk delivery id
	projLatency  = "latency"  // sk zero-padded Unix hour of acceptance
	projFailure  = "failure"  // sk "<time>#<event id>"
)

// timeLayout is the fixed-width RFC 3339 UTC layout of stored times, so
// that strings sort like times (the events index's range key).
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func pad(n int64) string { return fmt.Sprintf("%012d", n) }

// counterAttr is the projection attribute counting facts of a type (the
// JSON names of facts.Counts); "" for a type this version does not know.
func counterAttr(typ string) string {
	switch typ {
	case facts.TypeRequestAccepted:
		return "request_accepted"
	case facts.TypePlanCreated:
		return "plan_created"
	case facts.TypeTargetQueued:
		return "target_queued"
	case facts.TypeTargetDenied:
		return "target_denied"
	case facts.TypeTriggerSucceeded:
		return "trigger_succeeded"
	case facts.TypeTriggerFailed:
		return "trigger_failed"
	}
	return ""
}

// FactStore folds facts into the events and projections tables. Each fact
// is one TransactWriteItems: the conditional put of the fact into the
// events table (attribute_not_exists(id)), ADD updates of the counters
// (summary, repository, hour, minute, latency buckets) and a put of the
// delivery funnel conditional on the version read. A fact already in the
// events table cancels its transaction, so a fact counts once however
// often it is delivered. It implements pipeline.FactPublisher for the facts
// stage.
type FactStore struct {
	db          DynamoDBAPI
	events      string
	projections string
	// Now is the clock (time.Now when nil), for the expiry of items.
	Now func() time.Time
	// Retention is DefaultRetention when 0.
	Retention time.Duration
	// Attempts bounds the transactions tried per fact when another writer
	// changed the same funnel or item (conflicts); 8 when 0.
	Attempts int
}

// NewFactStore returns the fold over the events and projections tables.
func NewFactStore(db DynamoDBAPI, eventsTable, projectionsTable string) *FactStore {
	return &FactStore{db: db, events: eventsTable, projections: projectionsTable}
}

// ErrFoldConflict is returned when a fact could not be folded because
// other writers kept changing the same items; the message is retried.
var ErrFoldConflict = errors.New("fold: too many conflicting writers")

// Publish folds each fact (one transaction per fact, in order).
func (f *FactStore) Publish(ctx context.Context, evs ...facts.Event) error {
	for _, e := range evs {
		if e.ID == "" || e.Type == "" || e.Time.IsZero() {
			return fmt.Errorf("fold: invalid fact: id %q, type %q, time %v", e.ID, e.Type, e.Time)
		}
		if _, err := f.Fold(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// Fold applies one fact and reports whether it was new (false: its id was
// already in the events table, nothing changed).
func (f *FactStore) Fold(ctx context.Context, e facts.Event) (bool, error) {
	attempts := f.Attempts
	if attempts <= 0 {
		attempts = 8
	}
	e.Time = e.Time.UTC()
	for range attempts {
		applied, retry, err := f.try(ctx, e)
		if err != nil {
			return false, fmt.Errorf("fold fact %s (%s): %w", e.ID, e.Type, err)
		}
		if !retry {
			if applied {
				f.raiseMaxima(ctx, e)
			}
			return applied, nil
		}
	}
	return false, fmt.Errorf("fold fact %s (%s): %w", e.ID, e.Type, ErrFoldConflict)
}

type update struct {
	key   map[string]ddbtypes.AttributeValue
	adds  map[string]int64
	sets  map[string]ddbtypes.AttributeValue
	order []string
}

func newUpdate(pk, sk string) *update {
	return &update{key: key(pk, sk), adds: map[string]int64{}, sets: map[string]ddbtypes.AttributeValue{}}
}

func (u *update) add(attr string, n int64) {
	if _, ok := u.adds[attr]; !ok {
		u.order = append(u.order, attr)
	}
	u.adds[attr] += n
}

func (u *update) counts(typ string) {
	u.add("total_events", 1)
	if a := counterAttr(typ); a != "" {
		u.add(a, 1)
	}
}

func (u *update) tx(table string) ddbtypes.TransactWriteItem {
	names := map[string]string{}
	values := map[string]ddbtypes.AttributeValue{}
	var adds, sets []string
	i := 0
	for _, a := range u.order {
		if u.adds[a] == 0 {
			continue
		}
		n, v := "#a"+strconv.Itoa(i), ":a"+strconv.Itoa(i)
		names[n], values[v] = a, num(u.adds[a])
		adds = append(adds, n+" "+v)
		i++
	}
	setNames := make([]string, 0, len(u.sets))
	for a := range u.sets {
		setNames = append(setNames, a)
	}
	slices.Sort(setNames)
	for _, a := range setNames {
		n, v := "#s"+strconv.Itoa(i), ":s"+strconv.Itoa(i)
		names[n], values[v] = a, u.sets[a]
		sets = append(sets, n+" = "+v)
		i++
	}
	var expr []string
	if len(adds) > 0 {
		expr = append(expr, "ADD "+strings.Join(adds, ", "))
	}
	if len(sets) > 0 {
		expr = append(expr, "SET "+strings.Join(sets, ", "))
	}
	return ddbtypes.TransactWriteItem{Update: &ddbtypes.Update{
		TableName: aws.String(table), Key: u.key, UpdateExpression: aws.String(strings.Join(expr, " ")),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}}
}

// bucketIndex is the facts.Histogram bucket of d.
func bucketIndex(d time.Duration) int {
	var h facts.Histogram
	h.Add(d)
	for i, c := range h.Counts {
		if c > 0 {
			return i
		}
	}
	return len(h.Counts) - 1
}

// latencyDelta adds (sign +1) or removes (-1) one observation d to the
// histogram attributes prefixed p of u.
func latencyDelta(u *update, p string, d time.Duration, sign int64) {
	d = max(d, 0)
	u.add(p+"b"+strconv.Itoa(bucketIndex(d)), sign)
	u.add(p+"count", sign)
	u.add(p+"sum_ms", sign*d.Milliseconds())
}

// try runs one transaction for e: applied reports a new fact; retry asks
// for another attempt (a conflict).
func (f *FactStore) try(ctx context.Context, e facts.Event) (applied, retry bool, err error) {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	retention := f.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	exp := now().Add(retention).Unix()
	body, err := json.Marshal(e)
	if err != nil {
		return false, false, err
	}
	repo := facts.RepoOf(e)
	ev := map[string]ddbtypes.AttributeValue{
		"id": str(e.ID), "type": str(e.Type), "time": str(fmtTime(e.Time)), "source_repo": str(repo),
		"event": str(string(body)), TTLAttribute: num(exp),
	}
	if e.Data.DeliveryID != "" { // an index key attribute cannot be empty
		ev["delivery_id"] = str(e.Data.DeliveryID)
	}
	items := []ddbtypes.TransactWriteItem{{Put: &ddbtypes.Put{
		TableName: aws.String(f.events), Item: ev, ConditionExpression: aws.String("attribute_not_exists(id)"),
	}}}

	summary := newUpdate(projSummary, noSort)
	summary.counts(e.Type)
	rs := newUpdate(projRepo, repo)
	rs.counts(e.Type)
	rs.sets["repo"] = str(repo)
	hk := facts.HourKey(e.Time)
	hour := newUpdate(projHour, pad(hk))
	hour.counts(e.Type)
	hour.sets["hour"] = num(hk)
	hour.sets[TTLAttribute] = num(exp)
	mk := facts.MinuteOf(e.Time)
	minute := newUpdate(projMinute, pad(mk)+"#"+repo)
	minute.add("count", 1)
	minute.sets["minute"], minute.sets["repo"] = num(mk), str(repo)
	minute.sets[TTLAttribute] = num(time.Unix(mk, 0).Add(MinuteRetention).Unix())
	updates := []*update{summary, rs, hour, minute}

	funnelAt := -1
	if id := e.Data.DeliveryID; id != "" {
		old, err := f.getProjection(ctx, projDelivery, id)
		if err != nil {
			return false, false, err
		}
		var before facts.Funnel
		existed := old != nil
		version := getN(old, "version")
		if existed {
			if err := json.Unmarshal([]byte(getS(old, "funnel")), &before); err != nil {
				return false, false, fmt.Errorf("decode funnel %s: %w", id, err)
			}
		}
		st := facts.NewState()
		if existed {
			st.Deliveries[id] = before
		}
		facts.Apply(st, e)
		after := st.Deliveries[id]
		fb, err := json.Marshal(after)
		if err != nil {
			return false, false, err
		}
		item := key(projDelivery, id)
		item["funnel"], item["version"] = str(string(fb)), num(version+1)
		item["last_event_at"] = str(fmtTime(after.LastEventAt))
		item[TTLAttribute] = num(exp)
		put := &ddbtypes.Put{TableName: aws.String(f.projections), Item: item}
		if existed {
			put.ConditionExpression = aws.String("version = :v")
			put.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":v": num(version)}
		} else {
			put.ConditionExpression = aws.String("attribute_not_exists(pk)")
		}
		funnelAt = len(items)
		items = append(items, ddbtypes.TransactWriteItem{Put: put})

		// Latency: each delivery is one observation, in the histogram of
		// its acceptance hour and in the summary (as facts.Apply keeps it).
		oldD, oldOK := before.Latency()
		oldOK = oldOK && existed
		newD, newOK := after.Latency()
		oldH, newH := facts.HourKey(before.AcceptedAt), facts.HourKey(after.AcceptedAt)
		if oldOK != newOK || oldD != newD || oldH != newH {
			lat := map[int64]*update{}
			get := func(h int64) *update {
				if u, ok := lat[h]; ok {
					return u
				}
				u := newUpdate(projLatency, pad(h))
				u.sets["hour"] = num(h)
				u.sets[TTLAttribute] = num(exp)
				lat[h] = u
				updates = append(updates, u)
				return u
			}
			if oldOK {
				latencyDelta(get(oldH), "", oldD, -1)
				latencyDelta(summary, "lat_", oldD, -1)
			}
			if newOK {
				latencyDelta(get(newH), "", newD, +1)
				latencyDelta(summary, "lat_", newD, +1)
			}
		}
	}
	for _, u := range updates {
		items = append(items, u.tx(f.projections))
	}
	if e.Type == facts.TypeTriggerFailed {
		fl := facts.Failure{
			EventID: e.ID, Time: e.Time, DeliveryID: e.Data.DeliveryID, SourceRepo: repo,
			SourceWorkflow: e.Data.SourceWorkflow, TargetRepo: e.Data.TargetRepo,
			TargetWorkflow: e.Data.TargetWorkflow, Attempts: e.Data.Attempts, Error: e.Data.Error,
		}
		fb, err := json.Marshal(fl)
		if err != nil {
			return false, false, err
		}
		item := key(projFailure, fmtTime(e.Time)+"#"+e.ID)
		item["failure"], item[TTLAttribute] = str(string(fb)), num(exp)
		items = append(items, ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: aws.String(f.projections), Item: item}})
	}

	_, err = f.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: items,
	})
	if err == nil {
		return true, false, nil
	}
	var tce *ddbtypes.TransactionCanceledException
	if !errors.As(err, &tce) {
		return false, false, err
	}
	reasons := tce.CancellationReasons
	code := func(i int) string {
		if i >= 0 && i < len(reasons) {
			return aws.ToString(reasons[i].Code)
		}
		return ""
	}
	switch {
	case code(0) == "ConditionalCheckFailed":
		return false, false, nil // the fact is folded already
	case code(funnelAt) == "ConditionalCheckFailed":
		return false, true, nil // the funnel moved since it was read
	}
	for i := range reasons {
		if c := code(i); c == "TransactionConflict" {
			return false, true, nil
		}
	}
	// An emulator may send no reason codes: look the fact up.
	return f.foldedAlready(ctx, e)
}

// foldedAlready answers a cancelled transaction without usable reasons: the
// fact is folded if its id is in the events table; otherwise try again.
func (f *FactStore) foldedAlready(ctx context.Context, e facts.Event) (applied, retry bool, err error) {
	out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(f.events), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"id": str(e.ID)},
	})
	if err != nil {
		return false, false, err
	}
	return false, out.Item == nil, nil
}

func (f *FactStore) getProjection(ctx context.Context, pk, sk string) (map[string]ddbtypes.AttributeValue, error) {
	out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.projections), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read %s %q: %w", pk, sk, err)
	}
	return out.Item, nil
}

// raiseMaxima moves the "latest" times (summary and repository
// last_event_at) forward after a fold. DynamoDB has no max() in an update,
// so each is a conditional SET outside the fold's transaction: a crash in
// between leaves a time one fact behind until the next fact, never a
// count wrong.
func (f *FactStore) raiseMaxima(ctx context.Context, e facts.Event) {
	t := fmtTime(e.Time)
	for _, k := range []map[string]ddbtypes.AttributeValue{key(projSummary, noSort), key(projRepo, facts.RepoOf(e))} {
		_, _ = f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(f.projections), Key: k,
			UpdateExpression:          aws.String("SET last_event_at = :t"),
			ConditionExpression:       aws.String("attribute_not_exists(last_event_at) OR last_event_at < :t"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": str(t)},
		})
	}
}
