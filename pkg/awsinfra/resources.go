package awsinfra

// DefaultName is the default resource name prefix (Terraform variable
// "name").
const DefaultName = "dispatcher"

// TTLAttribute is the DynamoDB TTL attribute of every table: a Number,
// Unix seconds.
const TTLAttribute = "expires_at"

// DeliveryIndex is the events table's global secondary index by delivery.
const DeliveryIndex = "by-delivery"

// Redrive and retention settings of the queues.
const (
	MaxReceiveCount         = 5
	DefaultFunctionTimeout  = 30     // seconds
	VisibilityTimeoutFactor = 6      // visibility timeout = factor × function timeout
	SourceRetentionSeconds  = 345600 // 4 days
	DLQRetentionSeconds     = 1209600
)

// Stage names (DISPATCHER_STAGE, and the suffix of each function name).
var StageNames = []string{"ingress", "planner", "dispatcher", "facts", "admin"}

// Key is one attribute of a table or index key schema.
type Key struct {
	Name string `json:"name"`
	Type string `json:"type"` // "S" or "N"
}

// Index is a global secondary index (projection ALL).
type Index struct {
	Name       string `json:"name"`
	Hash       Key    `json:"hash"`
	Range      *Key   `json:"range,omitempty"`
	Projection string `json:"projection"`
}

// Table is a DynamoDB table of the contract. Every table is
// PAY_PER_REQUEST with point-in-time recovery and TTL on TTLAttribute.
type Table struct {
	Name    string  `json:"name"`
	Hash    Key     `json:"hash"`
	Range   *Key    `json:"range,omitempty"`
	Indexes []Index `json:"indexes,omitempty"`
	TTL     string  `json:"ttl_attribute"`
	Billing string  `json:"billing_mode"`
	PITR    bool    `json:"point_in_time_recovery"`
}

// QueueSpec is an SQS standard queue with its dead-letter queue.
type QueueSpec struct {
	Name                     string `json:"name"`
	DLQ                      string `json:"dlq"`
	MaxReceiveCount          int    `json:"max_receive_count"`
	VisibilityTimeoutSeconds int    `json:"visibility_timeout_seconds"`
	RetentionSeconds         int    `json:"message_retention_seconds"`
	DLQRetentionSeconds      int    `json:"dlq_message_retention_seconds"`
	// Consumer is the stage whose function the queue's event source
	// mapping invokes (with ReportBatchItemFailures).
	Consumer string `json:"consumer"`
}

// BusSpec is the EventBridge bus of the facts, its rule and the rule's target.
type BusSpec struct {
	Name         string `json:"name"`
	Rule         string `json:"rule"`
	EventPattern string `json:"event_pattern"`
	TargetQueue  string `json:"target_queue"`
}

// Contract is every AWS resource the runtime uses, by name. Its JSON form
// is the format of terraform/resources.json, which the Terraform module's
// test writes from the module; TestContractMatchesTerraform keeps the two
// in step.
type Contract struct {
	Prefix    string      `json:"name"`
	Queues    []QueueSpec `json:"queues"`
	Bus       BusSpec     `json:"event_bus"`
	Tables    []Table     `json:"tables"`
	Functions []string    `json:"functions"`
}

// FactsEventPattern is the facts rule's event pattern.
const FactsEventPattern = `{"source":[{"prefix":"dispatcher"}]}`

// FactsSource is the Source of every PutEvents entry; DetailType is the
// fact type and Detail the CloudEvents JSON of the fact.
const FactsSource = "dispatcher"

// ContractFor returns the resources for the name prefix p (DefaultName
// when empty) and a function timeout in seconds (DefaultFunctionTimeout
// when 0).
func ContractFor(p string, functionTimeout int) Contract {
	if p == "" {
		p = DefaultName
	}
	if functionTimeout <= 0 {
		functionTimeout = DefaultFunctionTimeout
	}
	queue := func(n, consumer string) QueueSpec {
		return QueueSpec{
			Name: p + "-" + n, DLQ: p + "-" + n + "-dlq", MaxReceiveCount: MaxReceiveCount,
			VisibilityTimeoutSeconds: VisibilityTimeoutFactor * functionTimeout,
			RetentionSeconds:         SourceRetentionSeconds, DLQRetentionSeconds: DLQRetentionSeconds,
			Consumer: consumer,
		}
	}
	s := func(n string) Key { return Key{Name: n, Type: "S"} }
	sk := s("sk")
	tm := s("time")
	table := func(n string, hash Key, rng *Key, idx ...Index) Table {
		return Table{Name: p + "-" + n, Hash: hash, Range: rng, Indexes: idx, TTL: TTLAttribute, Billing: "PAY_PER_REQUEST", PITR: true}
	}
	c := Contract{
		Prefix: p,
		Queues: []QueueSpec{queue("requests", "planner"), queue("targets", "dispatcher"), queue("facts", "facts")},
		Bus:    BusSpec{Name: p + "-facts", Rule: p + "-facts", EventPattern: FactsEventPattern, TargetQueue: p + "-facts"},
		Tables: []Table{
			table("events", s("id"), nil, Index{Name: DeliveryIndex, Hash: s("delivery_id"), Range: &tm, Projection: "ALL"}),
			table("projections", s("pk"), &sk),
			table("state", s("pk"), &sk),
		},
	}
	for _, st := range StageNames {
		c.Functions = append(c.Functions, p+"-"+st)
	}
	return c
}

// Names are the resource names the stages need at run time (what the
// DISPATCH_* variables hold on AWS).
type Names struct {
	RequestsQueue, TargetsQueue, FactsQueue   string
	Bus                                       string
	EventsTable, ProjectionsTable, StateTable string
}

// Names returns the run-time names of c.
func (c Contract) Names() Names {
	return Names{
		RequestsQueue: c.Queues[0].Name, TargetsQueue: c.Queues[1].Name, FactsQueue: c.Queues[2].Name,
		Bus:         c.Bus.Name,
		EventsTable: c.Tables[0].Name, ProjectionsTable: c.Tables[1].Name, StateTable: c.Tables[2].Name,
	}
}
