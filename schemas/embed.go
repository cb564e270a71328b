package schemas

import _ "embed"

// Dispatching is the JSON Schema (2020-12) of dispatching.yml.
//
//go:embed dispatching.schema.json
var Dispatching []byte
