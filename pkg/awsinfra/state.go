package awsinfra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dispatcher-dev/dispatcher/pkg/pipeline"
	"github.com/dispatcher-dev/dispatcher/pkg/plan"
)

// DynamoDBAPI is the part of the DynamoDB client the adapters use.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Default lifetimes of the state table's records (the same as the
// embedded store's).
const (
	DefaultReplayWindow = 10 * time.Minute
	DefaultClaimTTL     = 30 * 24 * time.Hour
	DefaultLineageTTL   = 30 * 24 * time.Hour
	DefaultOutcomeTTL   = 7 * 24 * time.Hour
)

// Claim states as stored.
const (
	claimInProgress = "in_progress"
	claimDone       = "done"
)

// noSort is the sort key of the state table's single-item records.
const noSort = "-"

// StateOptions tune State; zero values take the defaults.
type StateOptions struct {
	Now          func() time.Time // time.Now when nil
	ReplayWindow time.Duration    // DefaultReplayWindow
	ClaimTTL     time.Duration    // DefaultClaimTTL
	LineageTTL   time.Duration    // DefaultLineageTTL
	OutcomeTTL   time.Duration    // DefaultOutcomeTTL
}

// State is the state table: the replay guard, dispatch claims, lineage
// and outcomes, each a conditional write with a TTL (expires_at, Unix
// seconds; DynamoDB deletes expired items lazily, so every read also
// checks the expiry). It implements pipeline.ReplayGuard (through
// Replay), pipeline.Claims, pipeline.Lineage and pipeline.Outcomes.
type State struct {
	db    DynamoDBAPI
	table string
	o     StateOptions
}

// NewState returns the state adapters on table.
func NewState(db DynamoDBAPI, table string, o StateOptions) *State {
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReplayWindow, DefaultReplayWindow)
	def(&o.ClaimTTL, DefaultClaimTTL)
	def(&o.LineageTTL, DefaultLineageTTL)
	def(&o.OutcomeTTL, DefaultOutcomeTTL)
	return &State{db: db, table: table, o: o}
}

func (s *State) now() time.Time { return s.o.Now().UTC() }

func str(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func num(v int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

func getS(item map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]ddbtypes.AttributeValue, name string) int64 {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// expired reports whether an item's TTL has passed (DynamoDB may still
// return it for up to a few days).
func expired(item map[string]ddbtypes.AttributeValue, now time.Time) bool {
	e, ok := item[TTLAttribute].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return false
	}
	n, _ := strconv.ParseInt(e.Value, 10, 64)
	return n <= now.Unix()
}

// conditionFailed reports a ConditionalCheckFailedException and returns
// the old item when the server sent it (ReturnValuesOnConditionCheckFailure).
func conditionFailed(err error) (map[string]ddbtypes.AttributeValue, bool) {
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

func (s *State) get(ctx context.Context, pk, sk string) (map[string]ddbtypes.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// ReplayGuard is the webhook replay guard on the state table
// ("replay#<delivery id>"). It implements pipeline.ReplayGuard.
type ReplayGuard struct{ s *State }

// Replay returns the replay guard.
func (s *State) Replay() *ReplayGuard { return &ReplayGuard{s: s} }

// Seen reports whether id was recorded less than the replay window ago.
func (g *ReplayGuard) Seen(ctx context.Context, id string) (bool, error) {
	item, err := g.s.get(ctx, "replay#"+id, noSort)
	if err != nil {
		return false, fmt.Errorf("replay guard: read %q: %w", id, err)
	}
	return item != nil && !expired(item, g.s.now()), nil
}

// Record remembers id for the replay window: a put conditional on no live
// record, so the first recording's window stands.
func (g *ReplayGuard) Record(ctx context.Context, id string) error {
	now := g.s.now()
	item := key("replay#"+id, noSort)
	item["recorded_at"] = str(now.Format(time.RFC3339Nano))
	item[TTLAttribute] = num(now.Add(g.s.o.ReplayWindow).Unix())
	_, err := g.s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(g.s.table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR expires_at <= :now"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":now": num(now.Unix())},
	})
	if _, ok := conditionFailed(err); ok {
		return nil // recorded already, inside its window
	}
	if err != nil {
		return fmt.Errorf("replay guard: record %q: %w", id, err)
	}
	return nil
}

func claimKey(k string) string { return "claim#" + k }

// Claim takes the dispatch claim of key at now with a put conditional on
// no live record; when one exists it reports its state (see
// pipeline.Claims). Of concurrent callers exactly one gets ClaimAcquired.
func (s *State) Claim(ctx context.Context, k string, now time.Time) (pipeline.Claim, error) {
	now = now.UTC()
	item := key(claimKey(k), noSort)
	item["state"] = str(claimInProgress)
	item["claimed_at"] = num(now.UnixNano())
	item["leased_at"] = num(now.UnixNano())
	item[TTLAttribute] = num(now.Add(s.o.ClaimTTL).Unix())
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR expires_at <= :now"),
		ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":now": num(now.Unix())},
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return pipeline.Claim{State: pipeline.ClaimAcquired, ClaimedAt: now, LeasedAt: now}, nil
	}
	old, ok := conditionFailed(err)
	if !ok {
		return pipeline.Claim{}, fmt.Errorf("claim %q: %w", k, err)
	}
	if old == nil { // an emulator without ALL_OLD: read it
		if old, err = s.get(ctx, claimKey(k), noSort); err != nil {
			return pipeline.Claim{}, fmt.Errorf("claim %q: %w", k, err)
		}
		if old == nil {
			return pipeline.Claim{}, fmt.Errorf("claim %q: the record vanished; retry", k)
		}
	}
	c := pipeline.Claim{
		State:     pipeline.ClaimInProgress,
		ClaimedAt: time.Unix(0, getN(old, "claimed_at")).UTC(),
		LeasedAt:  time.Unix(0, getN(old, "leased_at")).UTC(),
	}
	if getS(old, "state") == claimDone {
		c.State = pipeline.ClaimDone
		if r := getS(old, "result"); r != "" {
			if err := json.Unmarshal([]byte(r), &c.Result); err != nil {
				return pipeline.Claim{}, fmt.Errorf("claim %q: decode result: %w", k, err)
			}
		}
	}
	return c, nil
}

// TakeOver restarts the lease of the in-progress claim of key at now, as
// an update conditional on the lease still starting at leasedAt (see
// pipeline.Claims).
func (s *State) TakeOver(ctx context.Context, k string, leasedAt, now time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(claimKey(k), noSort),
		UpdateExpression:          aws.String("SET leased_at = :now"),
		ConditionExpression:       aws.String("#state = :inprog AND leased_at = :lease"),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":now": num(now.UTC().UnixNano()), ":inprog": str(claimInProgress), ":lease": num(leasedAt.UTC().UnixNano())},
	})
	if _, ok := conditionFailed(err); ok {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take over %q: %w", k, err)
	}
	return true, nil
}

// Complete marks key done with its result (creating the record if it
// expired meanwhile); the record then lives ClaimTTL from now.
func (s *State) Complete(ctx context.Context, k string, result pipeline.DispatchResult) error {
	b, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("complete %q: %w", k, err)
	}
	now := s.now()
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(claimKey(k), noSort),
		UpdateExpression:          aws.String("SET #state = :done, #result = :r, completed_at = :now, claimed_at = if_not_exists(claimed_at, :now), leased_at = if_not_exists(leased_at, :now), expires_at = :exp"),
		ExpressionAttributeNames:  map[string]string{"#state": "state", "#result": "result"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":done": str(claimDone), ":r": str(string(b)), ":now": num(now.UnixNano()), ":exp": num(now.Add(s.o.ClaimTTL).Unix())},
	})
	if err != nil {
		return fmt.Errorf("complete %q: %w", k, err)
	}
	return nil
}

// Release deletes the in-progress claim of key whose lease starts at
// leasedAt (a compare-and-delete; see pipeline.Claims). A done record is
// never released.
func (s *State) Release(ctx context.Context, k string, leasedAt time.Time) (bool, error) {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(claimKey(k), noSort),
		ConditionExpression:       aws.String("#state = :inprog AND leased_at = :lease"),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":inprog": str(claimInProgress), ":lease": num(leasedAt.UTC().UnixNano())},
	})
	if _, ok := conditionFailed(err); ok {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("release %q: %w", k, err)
	}
	return true, nil
}

func lineageKey(repo string, runID int64) string {
	return "lineage#" + strings.ToLower(repo) + "#" + strconv.FormatInt(runID, 10)
}

// RecordRun stores the chain of the run repository/runID for LineageTTL.
func (s *State) RecordRun(ctx context.Context, repo string, runID int64, chain []plan.ChainLink) error {
	b, err := json.Marshal(chain)
	if err != nil {
		return fmt.Errorf("record run %s#%d: %w", repo, runID, err)
	}
	item := key(lineageKey(repo, runID), noSort)
	item["chain"] = str(string(b))
	item[TTLAttribute] = num(s.now().Add(s.o.LineageTTL).Unix())
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("record run %s#%d: %w", repo, runID, err)
	}
	return nil
}

// ChainOf returns the stored chain of a run, or nil.
func (s *State) ChainOf(ctx context.Context, repo string, runID int64) ([]plan.ChainLink, error) {
	item, err := s.get(ctx, lineageKey(repo, runID), noSort)
	if err != nil {
		return nil, fmt.Errorf("chain of %s#%d: %w", repo, runID, err)
	}
	if item == nil || expired(item, s.now()) {
		return nil, nil
	}
	var chain []plan.ChainLink
	if err := json.Unmarshal([]byte(getS(item, "chain")), &chain); err != nil {
		return nil, fmt.Errorf("chain of %s#%d: decode: %w", repo, runID, err)
	}
	return chain, nil
}

// Put stores o under ("outcome#<delivery id>", zero-padded index) and
// returns every outcome stored for the delivery (a consistent query).
func (s *State) Put(ctx context.Context, deliveryID string, o pipeline.Outcome) ([]pipeline.Outcome, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("outcome %s/%d: %w", deliveryID, o.Index, err)
	}
	pk := "outcome#" + deliveryID
	item := key(pk, fmt.Sprintf("%06d", o.Index))
	item["outcome"] = str(string(b))
	item[TTLAttribute] = num(s.now().Add(s.o.OutcomeTTL).Unix())
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return nil, fmt.Errorf("outcome %s/%d: %w", deliveryID, o.Index, err)
	}
	var out []pipeline.Outcome
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": str(pk)},
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("outcomes of %s: %w", deliveryID, err)
		}
		for _, it := range page.Items {
			var oc pipeline.Outcome
			if err := json.Unmarshal([]byte(getS(it, "outcome")), &oc); err != nil {
				return nil, fmt.Errorf("outcomes of %s: decode: %w", deliveryID, err)
			}
			out = append(out, oc)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
