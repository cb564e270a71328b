package terraform_test

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"

	"github.com/dispatcher-dev/dispatcher/pkg/settings"
)

// contract is terraform/resources.json, the AWS resources shared with
// pkg/awsinfra.
type contract struct {
	Comment                 string `json:"$comment"`
	DefaultName             string `json:"default_name"`
	FunctionTimeoutSeconds  int    `json:"function_timeout_seconds"`
	VisibilityTimeoutFactor int    `json:"visibility_timeout_factor"`
	Queues                  []struct {
		Name                       string `json:"name"`
		DLQ                        string `json:"dlq"`
		Consumer                   string `json:"consumer"`
		MaxReceiveCount            int    `json:"max_receive_count"`
		MessageRetentionSeconds    int    `json:"message_retention_seconds"`
		DLQMessageRetentionSeconds int    `json:"dlq_message_retention_seconds"`
	} `json:"queues"`
	EventBus struct {
		Name         string          `json:"name"`
		Rule         string          `json:"rule"`
		EventPattern json.RawMessage `json:"event_pattern"`
		EventSource  string          `json:"event_source"`
		TargetQueue  string          `json:"target_queue"`
	} `json:"event_bus"`
	Tables []struct {
		Name         string   `json:"name"`
		HashKey      keyAttr  `json:"hash_key"`
		RangeKey     *keyAttr `json:"range_key"`
		TTLAttribute string   `json:"ttl_attribute"`
		Indexes      []struct {
			Name       string   `json:"name"`
			HashKey    keyAttr  `json:"hash_key"`
			RangeKey   *keyAttr `json:"range_key"`
			Projection string   `json:"projection"`
		} `json:"indexes"`
	} `json:"tables"`
	Functions []struct {
		Name         string   `json:"name"`
		Runtime      string   `json:"runtime"`
		Architecture string   `json:"architecture"`
		Handler      string   `json:"handler"`
		Trigger      string   `json:"trigger"`
		Environment  []string `json:"environment"`
		Permissions  []struct {
			Resource string   `json:"resource"`
			Actions  []string `json:"actions"`
		} `json:"permissions"`
	} `json:"functions"`
	HTTPRoutes []struct {
		Route    string `json:"route"`
		Function string `json:"function"`
	} `json:"http_routes"`
	Secrets []string `json:"secrets"`
}

type keyAttr struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func loadContract(path string) (*contract, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var c contract
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// scenario is one set of module inputs and what follows from it.
type scenario struct {
	name   string
	inputs map[string]cty.Value
	// full: every optional setting is given, so each function's environment
	// must equal the contract's list exactly (otherwise: a subset).
	full bool
	// secrets maps external secret ARNs to the contract's secret names.
	secrets map[string]string
	// noAdminToken: the admin has no token secret (and so no permission).
	noAdminToken bool
}

func (s scenario) prefix() string {
	if v, ok := s.inputs["name"]; ok {
		return v.AsString()
	}
	return "dispatcher"
}

func strList(ss ...string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s)
	}
	return cty.ListVal(vs)
}

// scenarios are the input sets every check runs under; zip is a Lambda
// package file for lambda_zip_path.
func scenarios(zip string) []scenario {
	required := func(extra map[string]cty.Value) map[string]cty.Value {
		in := map[string]cty.Value{
			"app_version":   cty.StringVal("v1.2.3"),
			"github_app_id": cty.NumberIntVal(123456),
		}
		if _, s3 := extra["lambda_s3_bucket"]; !s3 {
			in["lambda_zip_path"] = cty.StringVal(zip)
		}
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	return []scenario{
		{name: "defaults", inputs: required(nil)},
		{name: "everything set", full: true, inputs: required(map[string]cty.Value{
			"name":                          cty.StringVal("acme-dispatch"),
			"log_level":                     cty.StringVal("debug"),
			"function_timeout_seconds":      cty.NumberIntVal(120),
			"http_function_timeout_seconds": cty.NumberIntVal(20),
			"trusted_proxies":               strList("10.0.0.0/8"),
			"admin_ip_allowlist":            strList("203.0.113.7", "2001:db8::/32"),
			"source_repo_allowlist":         strList("acme/*"),
			"target_repo_allowlist":         strList("acme/*", "partner/deploy"),
			"source_workflow_allowlist":     strList("ci.yml"),
			"allowed_source_conclusions":    strList("success", "skipped"),
			"alarm_sns_topic_arn":           cty.StringVal("arn:aws:sns:us-east-1:123456789012:ops"),
			"log_retention_days":            cty.NumberIntVal(90),
			"planner_max_concurrency":       cty.NumberIntVal(20),
		})},
		{name: "external secrets, package on S3", secrets: map[string]string{
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-webhook-AbCdEf": "webhook",
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-key-AbCdEf":     "app-private-key",
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf":      "admin-token",
		}, inputs: required(map[string]cty.Value{
			"create_secrets":             cty.False,
			"webhook_secret_arn":         cty.StringVal("arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-webhook-AbCdEf"),
			"github_app_private_key_arn": cty.StringVal("arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-key-AbCdEf"),
			"admin_token_secret_arn":     cty.StringVal("arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf"),
			"lambda_s3_bucket":           cty.StringVal("releases"),
			"lambda_s3_key":              cty.StringVal("dispatcher/v1.2.3/lambda.zip"),
			"lambda_package_sha256":      cty.StringVal(strings.Repeat("ab", 32)),
		})},
		{name: "external secrets without admin token", noAdminToken: true, secrets: map[string]string{
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-webhook-AbCdEf": "webhook",
			"arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-key-AbCdEf":     "app-private-key",
		}, inputs: required(map[string]cty.Value{
			"create_secrets":             cty.False,
			"webhook_secret_arn":         cty.StringVal("arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-webhook-AbCdEf"),
			"github_app_private_key_arn": cty.StringVal("arn:aws:secretsmanager:us-east-1:123456789012:secret:gh-key-AbCdEf"),
			"admin_ip_allowlist":         strList("198.51.100.0/24"),
		})},
	}
}

// writeZip writes a small Lambda package.
func writeZip(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "lambda.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, _ := zw.Create("bootstrap")
	w.Write([]byte("not a real binary"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// checkAll runs every check on a terraform/ tree (modules/dispatcher,
// examples/basic, resources.json) and returns the problems found.
func checkAll(root string, scs []scenario) []string {
	c, err := loadContract(filepath.Join(root, "resources.json"))
	if err != nil {
		return []string{err.Error()}
	}
	modDir := filepath.Join(root, "modules", "dispatcher")
	exDir := filepath.Join(root, "examples", "basic")
	var problems []string
	add := func(prefix string, ps []string) {
		for _, p := range ps {
			problems = append(problems, prefix+p)
		}
	}

	mod, ps := loadTF(modDir)
	add("module: ", ps)
	add("module: ", mod.checkReferences())
	add("module: ", mod.checkUnused())
	ex, ps := loadTF(exDir)
	add("example: ", ps)
	add("example: ", ex.checkReferences())
	add("example: ", ex.checkUnused())
	add("", checkInspect(modDir, exDir))
	add("example: ", checkModuleCall(mod, ex))
	if len(problems) > 0 {
		return problems // evaluation needs a well-formed module
	}
	for _, sc := range scs {
		e := newEvaluator(mod, sc.inputs)
		e.validate()
		e.preconditions()
		ps := checkContract(e, c, sc)
		add("["+sc.name+"] ", e.problems)
		add("["+sc.name+"] ", ps)
	}
	return problems
}

// checkInspect loads both directories with terraform-config-inspect and
// checks versions, providers, outputs and variable documentation.
func checkInspect(modDir, exDir string) []string {
	var problems []string
	mod, diags := tfconfig.LoadModule(modDir)
	if diags.HasErrors() {
		return []string{"tfconfig: module: " + diags.Error()}
	}
	ex, diags := tfconfig.LoadModule(exDir)
	if diags.HasErrors() {
		return []string{"tfconfig: example: " + diags.Error()}
	}
	pinned := func(where string, m *tfconfig.Module) {
		if len(m.RequiredCore) == 0 {
			problems = append(problems, where+": no required_version")
		}
		aws, ok := m.RequiredProviders["aws"]
		if !ok || aws.Source != "hashicorp/aws" || len(aws.VersionConstraints) == 0 {
			problems = append(problems, where+": the aws provider is not required with source hashicorp/aws and a version")
			return
		}
		for _, vc := range aws.VersionConstraints {
			if !strings.Contains(vc, "~>") && !strings.Contains(vc, "<") && !strings.HasPrefix(strings.TrimSpace(vc), "=") {
				problems = append(problems, fmt.Sprintf("%s: aws provider constraint %q has no upper bound (use ~>)", where, vc))
			}
		}
		if len(m.RequiredProviders) != 1 {
			problems = append(problems, fmt.Sprintf("%s: providers other than aws: %v", where, m.RequiredProviders))
		}
	}
	pinned("module", mod)
	pinned("example", ex)
	if !reflect.DeepEqual(mod.RequiredCore, ex.RequiredCore) {
		problems = append(problems, fmt.Sprintf("required_version differs: module %q, example %q", mod.RequiredCore, ex.RequiredCore))
	}
	if ma, ea := mod.RequiredProviders["aws"], ex.RequiredProviders["aws"]; ma != nil && ea != nil && !reflect.DeepEqual(ma.VersionConstraints, ea.VersionConstraints) {
		problems = append(problems, fmt.Sprintf("aws provider constraints differ: module %q, example %q", ma.VersionConstraints, ea.VersionConstraints))
	}
	for _, o := range []string{"webhook_url", "admin_url"} {
		if _, ok := mod.Outputs[o]; !ok {
			problems = append(problems, "module: missing output "+o)
		}
		if _, ok := ex.Outputs[o]; !ok {
			problems = append(problems, "example: missing output "+o)
		}
	}
	for _, m := range []*tfconfig.Module{mod, ex} {
		for n, v := range m.Variables {
			if v.Description == "" || v.Type == "" {
				problems = append(problems, fmt.Sprintf("%s: variable %s needs a description and a type", m.Path, n))
			}
		}
		for n, o := range m.Outputs {
			if o.Description == "" {
				problems = append(problems, fmt.Sprintf("%s: output %s needs a description", m.Path, n))
			}
		}
	}
	if mc, ok := ex.ModuleCalls["dispatcher"]; !ok || mc.Source != "../../modules/dispatcher" {
		problems = append(problems, "example: module \"dispatcher\" must use source ../../modules/dispatcher")
	}
	return problems
}

// checkModuleCall checks the example's module block against the module's
// variables, as terraform validate would.
func checkModuleCall(mod, ex *tfModule) []string {
	var problems []string
	b, ok := ex.modules["dispatcher"]
	if !ok {
		return []string{"no module \"dispatcher\""}
	}
	for n := range b.Body.Attributes {
		if metaArgs[n] {
			continue
		}
		if _, ok := mod.variables[n]; !ok {
			problems = append(problems, fmt.Sprintf("module \"dispatcher\" sets %q, which the module does not declare", n))
		}
	}
	for n, v := range mod.variables {
		if _, hasDefault := v.Body.Attributes["default"]; !hasDefault {
			if _, set := b.Body.Attributes[n]; !set {
				problems = append(problems, fmt.Sprintf("module \"dispatcher\" does not set required variable %q", n))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// checkContract checks the evaluated module against resources.json.
func checkContract(e *evaluator, c *contract, sc scenario) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p := sc.prefix()
	full := func(suffix string) string { return p + "-" + suffix }

	byName := func(typ string) map[string]*evaluated {
		out := map[string]*evaluated{}
		for _, ev := range e.resourcesOfType(typ) {
			if n := ev.str("name"); n != "" {
				out[n] = ev
			} else if n := ev.str("function_name"); n != "" {
				out[n] = ev
			}
		}
		return out
	}
	// named resolves a symbolic attribute to the name of the instance.
	named := func(v string) string {
		s, ok := parseSymbol(v)
		if !ok {
			return ""
		}
		inst := e.resolve(s)
		if inst == nil {
			return ""
		}
		if n := inst.str("function_name"); n != "" {
			return n
		}
		return inst.str("name")
	}

	// ---- functions
	functions := byName("aws_lambda_function")
	if len(functions) != len(c.Functions) {
		fail("%d Lambda functions, the contract has %d", len(functions), len(c.Functions))
	}
	roles := map[string]string{} // role instance -> function
	for _, cf := range c.Functions {
		fn := functions[full(cf.Name)]
		if fn == nil {
			fail("no Lambda function %s", full(cf.Name))
			continue
		}
		if fn.str("runtime") != cf.Runtime || !slices.Equal(fn.strings("architectures"), []string{cf.Architecture}) || fn.str("handler") != cf.Handler {
			fail("function %s: runtime %q, architectures %q, handler %q; want %s, %s, %s", cf.Name, fn.str("runtime"), fn.strings("architectures"), fn.str("handler"), cf.Runtime, cf.Architecture, cf.Handler)
		}
		env := map[string]string{}
		if vs, ok := fn.block("environment").attrs["variables"]; ok && !vs.IsNull() {
			for k, v := range vs.AsValueMap() {
				if v.Type() != cty.String {
					fail("function %s: environment %s is not a string", cf.Name, k)
					continue
				}
				env[k] = v.AsString()
			}
		}
		if env["DISPATCHER_STAGE"] != cf.Name {
			fail("function %s: DISPATCHER_STAGE = %q", cf.Name, env["DISPATCHER_STAGE"])
		}
		var got []string
		for k := range env {
			got = append(got, k)
			if !slices.Contains(cf.Environment, k) {
				fail("function %s gets %s, which the contract does not list for it", cf.Name, k)
			}
		}
		if sc.full {
			want := slices.Clone(cf.Environment)
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				fail("function %s: environment %v, want %v", cf.Name, got, want)
			}
		}
		for _, must := range []string{"DISPATCHER_STAGE", "LOG_LEVEL", "APP_VERSION"} {
			if _, ok := env[must]; !ok {
				fail("function %s: no %s", cf.Name, must)
			}
		}
		if sc.name == "defaults" {
			problems = append(problems, checkDefaults(cf.Name, env)...)
		}
		// Log group with retention.
		lg := named(fn.block("logging_config").str("log_group"))
		if lg == "" {
			lg = fn.block("logging_config").str("log_group")
		}
		if lvl := fn.block("logging_config").str("application_log_level"); fn.block("logging_config").str("log_format") != "JSON" || lvl != strings.ToUpper(strings.Replace(e.vars["log_level"].AsString(), "silent", "fatal", 1)) {
			fail("function %s: logging_config must be JSON with application_log_level following log_level (got %q)", cf.Name, lvl)
		}
		if lg != "/aws/lambda/"+full(cf.Name) {
			fail("function %s logs to %q, want /aws/lambda/%s", cf.Name, lg, full(cf.Name))
		} else if g := byName("aws_cloudwatch_log_group")[lg]; g == nil {
			fail("function %s: no log group %s", cf.Name, lg)
		} else if r, _ := g.num("retention_in_days"); r != mustNum(e.vars["log_retention_days"]) || r == 0 {
			fail("log group %s: retention %v, want var.log_retention_days", lg, r)
		}
		// Its own role, and exactly the permissions of the contract.
		rs, ok := parseSymbol(fn.str("role"))
		if !ok || rs.addr != "aws_iam_role."+strings.Split(rs.addr, ".")[1] || rs.attr != "arn" {
			fail("function %s: role is not an aws_iam_role of this module", cf.Name)
			continue
		}
		roleRef := symAddr(rs.addr, rs.key, rs.key != "")
		if other, dup := roles[roleRef]; dup {
			fail("functions %s and %s share the role %s: one role per function", other, cf.Name, roleRef)
		}
		roles[roleRef] = cf.Name
		want := map[string][]string{"logs:" + cf.Name: {"logs:CreateLogStream", "logs:PutLogEvents"}}
		for _, perm := range cf.Permissions {
			if sc.noAdminToken && perm.Resource == "secret:admin-token" {
				continue
			}
			want[perm.Resource] = append(want[perm.Resource], perm.Actions...)
		}
		gotPerms := rolePermissions(e, roleRef, sc, p, &problems)
		for r := range want {
			sort.Strings(want[r])
		}
		if !reflect.DeepEqual(gotPerms, want) {
			fail("function %s: role %s allows %v; the contract says %v", cf.Name, roleRef, gotPerms, want)
		}
	}
	if roleCount := len(e.resourcesOfType("aws_iam_role")); roleCount != len(c.Functions) {
		fail("%d IAM roles for %d functions: want one per function", roleCount, len(c.Functions))
	}

	// ---- queues and event source mappings
	queues := byName("aws_sqs_queue")
	if len(queues) != 2*len(c.Queues) {
		fail("%d SQS queues, the contract has %d queues and %d DLQs", len(queues), len(c.Queues), len(c.Queues))
	}
	mappings := e.resourcesOfType("aws_lambda_event_source_mapping")
	for _, m := range mappings {
		if !slices.Equal(m.strings("function_response_types"), []string{"ReportBatchItemFailures"}) {
			fail("%s: function_response_types = %q, want [ReportBatchItemFailures] (partial batch failures)", m.addr, m.strings("function_response_types"))
		}
		if mc, ok := m.block("scaling_config").num("maximum_concurrency"); !ok || mc < 2 || mc > 1000 {
			fail("%s: scaling_config.maximum_concurrency must be set (2-1000)", m.addr)
		}
	}
	if len(mappings) != len(c.Queues) {
		fail("%d event source mappings, want %d (one per queue)", len(mappings), len(c.Queues))
	}
	for _, cq := range c.Queues {
		q, dlq := queues[full(cq.Name)], queues[full(cq.DLQ)]
		if q == nil || dlq == nil {
			fail("queue %s or its DLQ %s is missing", full(cq.Name), full(cq.DLQ))
			continue
		}
		ret, _ := q.num("message_retention_seconds")
		dret, _ := dlq.num("message_retention_seconds")
		if int(ret) != cq.MessageRetentionSeconds || int(dret) != cq.DLQMessageRetentionSeconds {
			fail("queue %s: retention %v s and DLQ retention %v s, want %d and %d", cq.Name, ret, dret, cq.MessageRetentionSeconds, cq.DLQMessageRetentionSeconds)
		}
		if dret <= ret {
			fail("queue %s: the DLQ keeps messages %v s, not longer than the source's %v s", cq.Name, dret, ret)
		}
		var rp struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     any    `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(q.str("redrive_policy")), &rp); err != nil {
			fail("queue %s: redrive_policy: %v", cq.Name, err)
		} else {
			if named(rp.DeadLetterTargetArn) != full(cq.DLQ) {
				fail("queue %s: dead-letter target is %q, want %s", cq.Name, rp.DeadLetterTargetArn, full(cq.DLQ))
			}
			if n, _ := strconv.Atoi(fmt.Sprint(rp.MaxReceiveCount)); n != cq.MaxReceiveCount {
				fail("queue %s: maxReceiveCount %v, want %d", cq.Name, rp.MaxReceiveCount, cq.MaxReceiveCount)
			}
		}
		consumer := functions[full(cq.Consumer)]
		if consumer == nil {
			continue
		}
		vis, _ := q.num("visibility_timeout_seconds")
		to, _ := consumer.num("timeout")
		if to <= 0 || vis < float64(c.VisibilityTimeoutFactor)*to {
			fail("queue %s: visibility timeout %v s is less than %d x the %s function's timeout (%v s)", cq.Name, vis, c.VisibilityTimeoutFactor, cq.Consumer, to)
		}
		if sc.name == "defaults" && int(to) != c.FunctionTimeoutSeconds {
			fail("function %s: default timeout %v s, the contract says %d", cq.Consumer, to, c.FunctionTimeoutSeconds)
		}
		n := 0
		for _, m := range mappings {
			if named(m.str("event_source_arn")) == full(cq.Name) {
				n++
				if named(m.str("function_name")) != full(cq.Consumer) {
					fail("queue %s is consumed by %q, want %s", cq.Name, named(m.str("function_name")), full(cq.Consumer))
				}
			}
		}
		if n != 1 {
			fail("queue %s has %d event source mappings, want 1", cq.Name, n)
		}
	}

	// ---- EventBridge
	bus := byName("aws_cloudwatch_event_bus")[full(c.EventBus.Name)]
	rule := byName("aws_cloudwatch_event_rule")[full(c.EventBus.Rule)]
	switch {
	case bus == nil || rule == nil:
		fail("event bus %s or rule %s is missing", full(c.EventBus.Name), full(c.EventBus.Rule))
	default:
		if named(rule.str("event_bus_name")) != full(c.EventBus.Name) && rule.str("event_bus_name") != full(c.EventBus.Name) {
			fail("rule %s is not on bus %s", c.EventBus.Rule, full(c.EventBus.Name))
		}
		var got, want any
		json.Unmarshal([]byte(rule.str("event_pattern")), &got)
		json.Unmarshal(c.EventBus.EventPattern, &want)
		if !reflect.DeepEqual(got, want) {
			fail("rule %s: event pattern %s, want %s", c.EventBus.Rule, rule.str("event_pattern"), c.EventBus.EventPattern)
		}
		targets := 0
		for _, t := range e.resourcesOfType("aws_cloudwatch_event_target") {
			if named(t.str("rule")) != full(c.EventBus.Rule) && t.str("rule") != full(c.EventBus.Rule) {
				continue
			}
			targets++
			if named(t.str("arn")) != full(c.EventBus.TargetQueue) {
				fail("rule %s targets %q, want queue %s", c.EventBus.Rule, t.str("arn"), full(c.EventBus.TargetQueue))
			}
		}
		if targets != 1 {
			fail("rule %s has %d targets, want 1", c.EventBus.Rule, targets)
		}
		// The facts queue lets EventBridge send, only from this rule.
		ok := false
		for _, qp := range e.resourcesOfType("aws_sqs_queue_policy") {
			if named(qp.str("queue_url")) != full(c.EventBus.TargetQueue) {
				continue
			}
			for _, st := range policyStatements(e, qp.str("policy"), &problems) {
				cond := st.block("condition")
				if slices.Contains(st.block("principals").strings("identifiers"), "events.amazonaws.com") &&
					slices.Contains(st.strings("actions"), "sqs:SendMessage") &&
					cond.str("variable") == "aws:SourceArn" && slices.ContainsFunc(cond.strings("values"), func(v string) bool { return named(v) == full(c.EventBus.Rule) }) {
					ok = true
				}
			}
		}
		if !ok {
			fail("queue %s has no policy letting events.amazonaws.com send with aws:SourceArn = rule %s", c.EventBus.TargetQueue, c.EventBus.Rule)
		}
	}

	// ---- DynamoDB
	tables := byName("aws_dynamodb_table")
	if len(tables) != len(c.Tables) {
		fail("%d DynamoDB tables, the contract has %d", len(tables), len(c.Tables))
	}
	for _, ct := range c.Tables {
		tb := tables[full(ct.Name)]
		if tb == nil {
			fail("no table %s", full(ct.Name))
			continue
		}
		if tb.str("billing_mode") != "PAY_PER_REQUEST" {
			fail("table %s: billing_mode %q, want PAY_PER_REQUEST", ct.Name, tb.str("billing_mode"))
		}
		wantRange := ""
		wantAttrs := map[string]string{ct.HashKey.Name: ct.HashKey.Type}
		if ct.RangeKey != nil {
			wantRange = ct.RangeKey.Name
			wantAttrs[ct.RangeKey.Name] = ct.RangeKey.Type
		}
		if tb.str("hash_key") != ct.HashKey.Name || tb.str("range_key") != wantRange {
			fail("table %s: keys (%q, %q), want (%q, %q)", ct.Name, tb.str("hash_key"), tb.str("range_key"), ct.HashKey.Name, wantRange)
		}
		type gsi struct{ Name, Hash, Range, Projection string }
		var wantIdx, gotIdx []gsi
		for _, ix := range ct.Indexes {
			g := gsi{Name: ix.Name, Hash: ix.HashKey.Name, Projection: ix.Projection}
			wantAttrs[ix.HashKey.Name] = ix.HashKey.Type
			if ix.RangeKey != nil {
				g.Range = ix.RangeKey.Name
				wantAttrs[ix.RangeKey.Name] = ix.RangeKey.Type
			}
			wantIdx = append(wantIdx, g)
		}
		for _, ix := range tb.blocks["global_secondary_index"] {
			gotIdx = append(gotIdx, gsi{ix.str("name"), ix.str("hash_key"), ix.str("range_key"), ix.str("projection_type")})
		}
		if len(tb.blocks["local_secondary_index"]) > 0 || !reflect.DeepEqual(gotIdx, wantIdx) {
			fail("table %s: indexes %+v, want %+v", ct.Name, gotIdx, wantIdx)
		}
		gotAttrs := map[string]string{}
		for _, a := range tb.blocks["attribute"] {
			gotAttrs[a.str("name")] = a.str("type")
		}
		if !reflect.DeepEqual(gotAttrs, wantAttrs) {
			fail("table %s: attributes %v, want %v", ct.Name, gotAttrs, wantAttrs)
		}
		if ttl := tb.block("ttl"); !ttl.boolean("enabled") || ttl.str("attribute_name") != ct.TTLAttribute {
			fail("table %s: TTL must be enabled on %q (got %q)", ct.Name, ct.TTLAttribute, ttl.str("attribute_name"))
		}
		if !tb.block("point_in_time_recovery").boolean("enabled") {
			fail("table %s: point-in-time recovery is off", ct.Name)
		}
	}

	// ---- alarms
	alarms := e.resourcesOfType("aws_cloudwatch_metric_alarm")
	hasAlarm := func(namespace, metric, dim, target string) bool {
		for _, a := range alarms {
			d, ok := a.attrs["dimensions"]
			if !ok || d.IsNull() || !d.Type().IsObjectType() && !d.Type().IsMapType() {
				continue
			}
			dv := d.AsValueMap()[dim]
			if dv == cty.NilVal || dv.Type() != cty.String {
				continue
			}
			th, _ := a.num("threshold")
			if a.str("namespace") == namespace && a.str("metric_name") == metric && (named(dv.AsString()) == target || dv.AsString() == target) &&
				a.str("comparison_operator") == "GreaterThanThreshold" && th == 0 {
				return true
			}
		}
		return false
	}
	for _, cq := range c.Queues {
		if !hasAlarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", full(cq.DLQ)) {
			fail("no alarm on messages in DLQ %s (> 0)", full(cq.DLQ))
		}
	}
	for _, cf := range c.Functions {
		for _, metric := range []string{"Errors", "Throttles"} {
			if !hasAlarm("AWS/Lambda", metric, "FunctionName", full(cf.Name)) {
				fail("no alarm on %s of function %s (> 0)", metric, full(cf.Name))
			}
		}
	}
	if topic := e.vars["alarm_sns_topic_arn"]; !topic.IsNull() {
		for _, a := range alarms {
			if !slices.Contains(a.strings("alarm_actions"), topic.AsString()) {
				fail("alarm %s does not notify %s", a.addr, topic.AsString())
			}
		}
	}

	// ---- HTTP API
	wantRoutes := map[string]string{}
	for _, r := range c.HTTPRoutes {
		wantRoutes[r.Route] = full(r.Function)
	}
	gotRoutes := map[string]string{}
	for _, r := range e.resourcesOfType("aws_apigatewayv2_route") {
		integ, ok := parseSymbol(strings.TrimPrefix(r.str("target"), "integrations/"))
		fn := ""
		if inst := e.resolve(integ); ok && inst != nil {
			fn = named(inst.str("integration_uri"))
			if inst.str("integration_type") != "AWS_PROXY" || inst.str("payload_format_version") != "2.0" {
				fail("route %s: integration must be AWS_PROXY with payload format 2.0", r.str("route_key"))
			}
		}
		gotRoutes[r.str("route_key")] = fn
	}
	if !reflect.DeepEqual(gotRoutes, wantRoutes) {
		fail("routes %v, want %v", gotRoutes, wantRoutes)
	}
	throttled := false
	for _, st := range e.resourcesOfType("aws_apigatewayv2_stage") {
		rs := st.block("default_route_settings")
		rate, ok1 := rs.num("throttling_rate_limit")
		burst, ok2 := rs.num("throttling_burst_limit")
		throttled = throttled || ok1 && ok2 && rate > 0 && burst > 0
	}
	if !throttled {
		fail("the API stage has no throttling (default_route_settings)")
	}
	for _, perm := range e.resourcesOfType("aws_lambda_permission") {
		if strings.HasSuffix(perm.str("source_arn"), "/*/*") || perm.str("source_arn") == "" {
			fail("%s: source_arn %q lets any route invoke the function", perm.addr, perm.str("source_arn"))
		}
	}
	for o, suffix := range map[string]string{"webhook_url": "/webhooks/github", "admin_url": "/admin"} {
		if v, ok := e.output(o); !ok || v.Type() != cty.String || !strings.HasSuffix(v.AsString(), suffix) {
			fail("output %s must end with %s", o, suffix)
		}
	}
	return problems
}

func mustNum(v cty.Value) float64 {
	if v == cty.NilVal || v.IsNull() || v.Type() != cty.Number {
		return math.NaN()
	}
	f, _ := v.AsBigFloat().Float64()
	return f
}

// policyStatements evaluates the statements of an aws_iam_policy_document
// given by its symbolic json attribute.
func policyStatements(e *evaluator, policy string, problems *[]string) []*evaluated {
	s, ok := parseSymbol(policy)
	if !ok || !strings.HasPrefix(s.addr, "data.aws_iam_policy_document.") || s.attr != "json" {
		*problems = append(*problems, fmt.Sprintf("policy %q is not an aws_iam_policy_document of this module", policy))
		return nil
	}
	doc := e.resolve(s)
	if doc == nil {
		*problems = append(*problems, fmt.Sprintf("policy document %s not found", s.addr))
		return nil
	}
	return doc.blocks["statement"]
}

// rolePermissions returns the actions the role's inline policies allow, by
// contract resource id ("queue:requests", "table:state", "logs:ingress", ...).
func rolePermissions(e *evaluator, role string, sc scenario, prefix string, problems *[]string) map[string][]string {
	fail := func(format string, args ...any) { *problems = append(*problems, fmt.Sprintf(format, args...)) }
	for _, a := range e.resourcesOfType("aws_iam_role_policy_attachment") {
		if s, ok := parseSymbol(a.str("role")); ok && symAddr(s.addr, s.key, s.key != "") == role {
			fail("%s attaches a managed policy to %s: use the inline least-privilege policy", a.addr, role)
		}
	}
	got := map[string][]string{}
	n := 0
	for _, rp := range e.resourcesOfType("aws_iam_role_policy") {
		s, ok := parseSymbol(rp.str("role"))
		if !ok || symAddr(s.addr, s.key, s.key != "") != role {
			continue
		}
		n++
		for _, st := range policyStatements(e, rp.str("policy"), problems) {
			if eff := st.str("effect"); eff != "" && eff != "Allow" {
				continue
			}
			if len(st.blocks["not_actions"]) > 0 || st.attrs["not_actions"] != cty.NilVal || st.attrs["not_resources"] != cty.NilVal {
				fail("%s: not_actions / not_resources are not least privilege", rp.addr)
			}
			for _, r := range st.strings("resources") {
				id := resourceID(e, r, sc, prefix)
				for _, act := range st.strings("actions") {
					if strings.Contains(act, "*") {
						fail("%s: wildcard action %q", rp.addr, act)
					}
					if !slices.Contains(got[id], act) {
						got[id] = append(got[id], act)
					}
				}
			}
		}
	}
	if n == 0 {
		fail("role %s has no policy", role)
	}
	for k := range got {
		sort.Strings(got[k])
	}
	return got
}

// resourceID names a policy resource as the contract does.
func resourceID(e *evaluator, r string, sc scenario, prefix string) string {
	if name, ok := sc.secrets[r]; ok {
		return "secret:" + name
	}
	s, ok := parseSymbol(r)
	if !ok {
		return "literal:" + r
	}
	inst := e.resolve(s)
	if inst == nil {
		return "unresolved:" + r
	}
	name := inst.str("name")
	typ := strings.Split(s.addr, ".")[0]
	switch {
	case typ == "aws_sqs_queue" && s.attr == "arn" && s.rest == "":
		base := strings.TrimPrefix(name, prefix+"-")
		if b, ok := strings.CutSuffix(base, "-dlq"); ok {
			return "dlq:" + b
		}
		return "queue:" + base
	case typ == "aws_dynamodb_table" && s.attr == "arn" && s.rest == "":
		return "table:" + strings.TrimPrefix(name, prefix+"-")
	case typ == "aws_dynamodb_table" && s.attr == "arn" && strings.HasPrefix(s.rest, "/index/"):
		return "index:" + strings.TrimPrefix(name, prefix+"-") + "/" + strings.TrimPrefix(s.rest, "/index/")
	case typ == "aws_cloudwatch_event_bus" && s.attr == "arn" && s.rest == "":
		return "bus:" + strings.TrimPrefix(name, prefix+"-")
	case typ == "aws_secretsmanager_secret" && s.attr == "arn" && s.rest == "":
		return "secret:" + strings.TrimPrefix(name, prefix+"/")
	case typ == "aws_cloudwatch_log_group" && s.attr == "arn" && s.rest == ":*":
		return "logs:" + strings.TrimPrefix(name, "/aws/lambda/"+prefix+"-")
	}
	return "unknown:" + r
}

// pendingSettings are environment variables the contract gives the functions
// that pkg/settings does not declare yet (other branches add them).
var pendingSettings = map[string]bool{
	"DISPATCH_FACTS_QUEUE_URL": true, "DISPATCH_FACTS_DLQ_URL": true, "ADMIN_TOKEN_ARN": true,
	"GITHUB_WRITES_PER_MINUTE": true, "CONFIG_CACHE_TTL": true,
}

// checkDefaults compares a function's environment under the module's
// defaults with the binary's own defaults (pkg/settings): the module must not
// change a default by accident.
func checkDefaults(fn string, env map[string]string) []string {
	var problems []string
	defs := map[string]string{}
	for _, v := range settings.Variables() {
		defs[v.Name] = v.Default
	}
	for k, got := range env {
		def, ok := defs[k]
		if !ok || def == "" || k == "APP_VERSION" || k == "APP_IMAGE_SHA" {
			continue
		}
		same := got == def
		if d1, err1 := time.ParseDuration(got); err1 == nil {
			if d2, err2 := time.ParseDuration(def); err2 == nil {
				same = d1 == d2
			}
		}
		if !same {
			problems = append(problems, fmt.Sprintf("function %s: %s defaults to %q in the module but %q in the binary", fn, k, got, def))
		}
	}
	return problems
}

// ---------------------------------------------------------------- tests

func TestModule(t *testing.T) {
	zip := writeZip(t, t.TempDir())
	for _, p := range checkAll(".", scenarios(zip)) {
		t.Error(p)
	}
}

// TestContractMatchesSettings: every variable the contract gives a function
// is one pkg/settings reads, and every setting a Lambda stage reads reaches
// that stage.
func TestContractMatchesSettings(t *testing.T) {
	c, err := loadContract("resources.json")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]settings.Variable{}
	for _, v := range settings.Variables() {
		known[v.Name] = v
	}
	env := map[string][]string{}
	for _, f := range c.Functions {
		env[f.Name] = f.Environment
		for _, n := range f.Environment {
			if _, ok := known[n]; !ok {
				if !pendingSettings[n] {
					t.Errorf("function %s gets %s, which pkg/settings does not declare", f.Name, n)
				} else {
					t.Logf("pending: %s (function %s) is not in pkg/settings yet", n, f.Name)
				}
			}
		}
	}
	for _, v := range known {
		if v.Secret || strings.HasSuffix(v.Name, "_FILE") {
			continue // secrets arrive by ARN
		}
		modes := strings.Split(v.Modes, ", ")
		for stage := range env {
			if (slices.Contains(modes, stage) || v.Modes == "all") && !slices.Contains(env[stage], v.Name) {
				t.Errorf("pkg/settings says %s is read by %s, but the contract does not pass it", v.Name, stage)
			}
		}
	}
	for _, s := range []string{"GITHUB_WEBHOOK_SECRET", "GITHUB_APP_PRIVATE_KEY", "ADMIN_TOKEN"} {
		for stage, names := range env {
			if slices.Contains(names, s) {
				t.Errorf("function %s gets the secret %s in plain text; pass its _ARN", stage, s)
			}
		}
	}
}

// TestContractConsistent: resources.json agrees with itself (triggers,
// consumers, routes, permissions' resources).
func TestContractConsistent(t *testing.T) {
	c, err := loadContract("resources.json")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{"bus:" + c.EventBus.Name: true}
	consumer := map[string]string{}
	for _, q := range c.Queues {
		ids["queue:"+q.Name], ids["dlq:"+q.Name] = true, true
		consumer[q.Name] = q.Consumer
		if q.DLQ != q.Name+"-dlq" {
			t.Errorf("queue %s: DLQ %s, want %s-dlq", q.Name, q.DLQ, q.Name)
		}
	}
	for _, tb := range c.Tables {
		ids["table:"+tb.Name] = true
		for _, ix := range tb.Indexes {
			ids["index:"+tb.Name+"/"+ix.Name] = true
		}
	}
	for _, s := range c.Secrets {
		ids["secret:"+s] = true
	}
	routed := map[string]bool{}
	for _, r := range c.HTTPRoutes {
		routed[r.Function] = true
	}
	for _, f := range c.Functions {
		switch q, isQueue := strings.CutPrefix(f.Trigger, "queue:"); {
		case isQueue && consumer[q] != f.Name:
			t.Errorf("function %s is triggered by queue %s, whose consumer is %q", f.Name, q, consumer[q])
		case f.Trigger == "http" && !routed[f.Name]:
			t.Errorf("function %s is triggered by HTTP but has no route", f.Name)
		case !isQueue && f.Trigger != "http":
			t.Errorf("function %s: unknown trigger %q", f.Name, f.Trigger)
		}
		for _, p := range f.Permissions {
			if !ids[p.Resource] {
				t.Errorf("function %s: permission on unknown resource %q", f.Name, p.Resource)
			}
		}
	}
}

// TestDocsListResources: docs/aws.md names every resource, key, index and
// environment variable of the contract.
func TestDocsListResources(t *testing.T) {
	c, err := loadContract("resources.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/aws.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"`<p>-" + c.EventBus.Name + "`", "resources.json"}
	for _, q := range c.Queues {
		want = append(want, "`<p>-"+q.Name+"`", "`<p>-"+q.DLQ+"`")
	}
	for _, tb := range c.Tables {
		want = append(want, "`<p>-"+tb.Name+"`", "`"+tb.HashKey.Name+"` ("+tb.HashKey.Type+")", "`"+tb.TTLAttribute+"`")
		for _, ix := range tb.Indexes {
			want = append(want, "`"+ix.Name+"`", "`"+ix.HashKey.Name+"` ("+ix.HashKey.Type+")")
		}
	}
	for _, f := range c.Functions {
		want = append(want, "`<p>-"+f.Name+"`")
		for _, e := range f.Environment {
			want = append(want, "`"+e+"`")
		}
	}
	for _, r := range c.HTTPRoutes {
		want = append(want, "`"+r.Route+"`")
	}
	for _, w := range want {
		if !strings.Contains(string(doc), w) {
			t.Errorf("docs/aws.md does not mention %s", w)
		}
	}
}

// TestScenarioFailures: invalid inputs are refused by the module's own
// validation and preconditions, as terraform plan would refuse them.
func TestScenarioFailures(t *testing.T) {
	zip := writeZip(t, t.TempDir())
	mod, ps := loadTF("modules/dispatcher")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	base := scenarios(zip)[0].inputs
	cases := []struct {
		name string
		set  map[string]cty.Value
		drop []string
		want string
	}{
		{"log level", map[string]cty.Value{"log_level": cty.StringVal("loud")}, nil, "variable log_level: validation fails"},
		{"API timeout over 29 s", map[string]cty.Value{"http_function_timeout_seconds": cty.NumberIntVal(30)}, nil, "variable http_function_timeout_seconds: validation fails"},
		{"concurrency below AWS's minimum", map[string]cty.Value{"dispatcher_max_concurrency": cty.NumberIntVal(1)}, nil, "variable dispatcher_max_concurrency: validation fails"},
		{"admin allowlist not an address", map[string]cty.Value{"admin_ip_allowlist": strList("10.0.0.0/8", "office")}, nil, "variable admin_ip_allowlist: validation fails"},
		{"replay window not a duration", map[string]cty.Value{"replay_window": cty.StringVal("ten minutes")}, nil, "variable replay_window: validation fails"},
		{"allowlist with a comma", map[string]cty.Value{"source_repo_allowlist": strList("a/b,c/d")}, nil, "variable source_repo_allowlist: validation fails"},
		{"retention not a CloudWatch value", map[string]cty.Value{"log_retention_days": cty.NumberIntVal(10)}, nil, "variable log_retention_days: validation fails"},
		{"external secrets missing", map[string]cty.Value{"create_secrets": cty.False}, nil, "precondition fails: With create_secrets = false"},
		{"no package", nil, []string{"lambda_zip_path"}, "precondition fails: Set either lambda_zip_path"},
		{"two packages", map[string]cty.Value{"lambda_s3_bucket": cty.StringVal("b"), "lambda_s3_key": cty.StringVal("k")}, nil, "precondition fails: Set either lambda_zip_path"},
		{"app version missing", nil, []string{"app_version"}, "variable app_version is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]cty.Value{}
			for k, v := range base {
				if !slices.Contains(tc.drop, k) {
					in[k] = v
				}
			}
			for k, v := range tc.set {
				in[k] = v
			}
			e := newEvaluator(mod, in)
			e.validate()
			e.preconditions()
			if !slices.ContainsFunc(e.problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem containing %q; got %q", tc.want, e.problems)
			}
		})
	}
}

// TestCheckerCatchesDefects breaks a copy of the module in one way at a time
// (including each infrastructure defect of the service we replace,
// spec/behaviour.md 11.3) and asserts that the checks above report it.
func TestCheckerCatchesDefects(t *testing.T) {
	zip := writeZip(t, t.TempDir())
	cases := []struct {
		name, file, old, new, want string
	}{
		{"no partial batch failures", "modules/dispatcher/lambda.tf",
			"  function_response_types = [\"ReportBatchItemFailures\"]\n", "", "want [ReportBatchItemFailures]"},
		{"unbounded consumer concurrency", "modules/dispatcher/lambda.tf",
			"  scaling_config {\n    maximum_concurrency = each.value.max_concurrency\n  }\n", "", "maximum_concurrency must be set"},
		{"visibility equal to the timeout", "modules/dispatcher/sqs.tf",
			"local.visibility_timeout_factor * local.function_timeouts", "local.visibility_timeout_factor / 6 * local.function_timeouts", "is less than 6 x"},
		{"DLQ retention equal to the source's", "modules/dispatcher/main.tf",
			"dlq_message_retention_seconds = 1209600", "dlq_message_retention_seconds = 345600", "not longer than the source's"},
		{"three receives", "modules/dispatcher/main.tf",
			"max_receive_count             = 5", "max_receive_count             = 3", "maxReceiveCount 3, want 5"},
		{"no TTL", "modules/dispatcher/dynamodb.tf",
			"  ttl {\n    attribute_name = local.ttl_attribute\n    enabled        = true\n  }\n\n  point_in_time_recovery {\n    enabled = true\n  }\n\n  tags = local.tags\n}\n\n# Replay",
			"  point_in_time_recovery {\n    enabled = true\n  }\n\n  tags = local.tags\n}\n\n# Replay", "table projections: TTL must be enabled"},
		{"no point-in-time recovery", "modules/dispatcher/dynamodb.tf",
			"  point_in_time_recovery {\n    enabled = true\n  }\n\n  tags = local.tags\n}\n\n# Read models",
			"  point_in_time_recovery {\n    enabled = false\n  }\n\n  tags = local.tags\n}\n\n# Read models", "table events: point-in-time recovery is off"},
		{"index without its range key", "modules/dispatcher/dynamodb.tf",
			"    range_key       = \"time\"\n", "", "table events: indexes"},
		{"one shared role", "modules/dispatcher/lambda.tf",
			"role          = aws_iam_role.function[each.key].arn", "role          = aws_iam_role.function[\"planner\"].arn", "share the role"},
		{"ingress may scan", "modules/dispatcher/iam.tf",
			"actions   = [\"dynamodb:GetItem\", \"dynamodb:PutItem\"]\n    resources = [aws_dynamodb_table.state.arn]",
			"actions   = [\"dynamodb:GetItem\", \"dynamodb:PutItem\", \"dynamodb:Scan\"]\n    resources = [aws_dynamodb_table.state.arn]", "function ingress: role"},
		{"wildcard action", "modules/dispatcher/iam.tf",
			"actions   = [\"events:PutEvents\"]", "actions   = [\"events:*\"]", "wildcard action"},
		{"guardrail not passed to the planner", "modules/dispatcher/lambda.tf",
			"      DISPATCH_MAX_CHAIN_DEPTH      = tostring(var.dispatch_max_chain_depth)\n", "", "function planner: environment"},
		{"secret passed to the wrong function", "modules/dispatcher/lambda.tf",
			"      DISPATCH_EVENTS_TABLE_NAME      = aws_dynamodb_table.events.name\n      DISPATCH_PROJECTIONS_TABLE_NAME = aws_dynamodb_table.projections.name\n    }\n    admin",
			"      DISPATCH_EVENTS_TABLE_NAME      = aws_dynamodb_table.events.name\n      DISPATCH_PROJECTIONS_TABLE_NAME = aws_dynamodb_table.projections.name\n      GITHUB_WEBHOOK_SECRET_ARN       = local.secret_arns[\"webhook\"]\n    }\n    admin",
			"function facts gets GITHUB_WEBHOOK_SECRET_ARN"},
		{"no DLQ alarm", "modules/dispatcher/alarms.tf",
			"metric_name         = \"ApproximateNumberOfMessagesVisible\"", "metric_name         = \"NumberOfMessagesSent\"", "no alarm on messages in DLQ"},
		{"no throttling", "modules/dispatcher/apigateway.tf",
			"    throttling_rate_limit  = var.api_throttling_rate_limit\n", "", "no throttling"},
		{"module pins ~> 5.0", "modules/dispatcher/versions.tf",
			"version = \"~> 6.0\"", "version = \"~> 5.0\"", "aws provider constraints differ"},
		{"unbounded provider", "examples/basic/versions.tf",
			"version = \"~> 6.0\"", "version = \">= 6.0\"", "has no upper bound"},
		{"undeclared variable", "modules/dispatcher/eventbridge.tf",
			"name = \"${var.name}-facts\"", "name = \"${var.nme}-facts\"", "undeclared input variable \"nme\""},
		{"undeclared local", "modules/dispatcher/alarms.tf",
			"alarm_actions       = local.alarm_actions\n  ok_actions          = local.alarm_actions\n  tags                = local.tags\n}\n\nresource \"aws_cloudwatch_metric_alarm\" \"queue_age\"",
			"alarm_actions       = local.alarm_action\n  ok_actions          = local.alarm_actions\n  tags                = local.tags\n}\n\nresource \"aws_cloudwatch_metric_alarm\" \"queue_age\"", "undeclared local value \"alarm_action\""},
		{"unused data source", "modules/dispatcher/main.tf",
			"data \"aws_caller_identity\" \"current\" {}\n", "data \"aws_caller_identity\" \"current\" {}\n\ndata \"aws_partition\" \"current\" {}\n", "data source \"aws_partition.current\" is declared but not used"},
		{"unused example variable", "examples/basic/main.tf",
			"  alarm_sns_topic_arn   = var.alarm_sns_topic_arn\n", "", "variable \"alarm_sns_topic_arn\" is declared but not used"},
		{"duplicate resource", "modules/dispatcher/eventbridge.tf",
			"resource \"aws_cloudwatch_event_bus\" \"facts\" {", "resource \"aws_cloudwatch_event_bus\" \"facts\" {\n  name = \"x\"\n}\n\nresource \"aws_cloudwatch_event_bus\" \"facts\" {", "duplicate resource \"aws_cloudwatch_event_bus.facts\""},
		{"not formatted", "modules/dispatcher/outputs.tf",
			"  value       = \"${trimsuffix(aws_apigatewayv2_stage.default.invoke_url, \"/\")}/admin\"", "  value = \"${trimsuffix(aws_apigatewayv2_stage.default.invoke_url, \"/\")}/admin\"", "outputs.tf is not formatted"},
		{"example misses a required variable", "examples/basic/main.tf",
			"  github_app_id   = var.github_app_id\n", "", "does not set required variable \"github_app_id\""},
		{"contract TTL attribute changed", "resources.json",
			"\"ttl_attribute\": \"expires_at\",\n      \"indexes\"", "\"ttl_attribute\": \"ttl\",\n      \"indexes\"", "table events: TTL must be enabled on \"ttl\""},
		{"contract GSI renamed", "resources.json",
			"\"name\": \"by-delivery\"", "\"name\": \"by_delivery\"", "table events: indexes"},
		{"webhook route missing", "modules/dispatcher/main.tf",
			"    \"POST /webhooks/github\" = { id = \"webhook\", function = \"ingress\", source_path = \"POST/webhooks/github\" }\n", "", "routes map"},
	}
	// Defaults and "everything set" show every defect below; the other
	// scenarios run in TestModule.
	scs := scenarios(zip)[:2]
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := copyTree(t, ".")
			p := filepath.Join(root, tc.file)
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(src), tc.old) {
				t.Fatalf("%s does not contain %q: update this test", tc.file, tc.old)
			}
			out := []byte(strings.Replace(string(src), tc.old, tc.new, 1))
			if !strings.Contains(tc.want, "not formatted") && filepath.Ext(p) == ".tf" {
				out = hclwrite.Format(out) // test one defect at a time
			}
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			problems := checkAll(root, scs)
			i := slices.IndexFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) })
			if i < 0 {
				t.Errorf("the checker missed it: want a problem containing %q; got:\n%s", tc.want, strings.Join(problems, "\n"))
				return
			}
			t.Logf("reported: %s", problems[i])
		})
	}
}

// copyTree copies resources.json and the .tf files of modules/ and examples/
// into a temporary directory.
func copyTree(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Ext(p) != ".tf" && p != "resources.json" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, p)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
