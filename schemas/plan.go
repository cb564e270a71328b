package schemas

import _ "embed"

// Plan is the JSON Schema (2020-12) of the plan output of `simulate` and
// `plan` (`--format json`), including the `simulate --follow` shape.
//
//go:embed plan.schema.json
var Plan []byte
