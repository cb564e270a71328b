package httpapi_test

import (
	"github.com/dispatcher-dev/dispatcher/pkg/httpapi"
	"github.com/dispatcher-dev/dispatcher/pkg/local"
)

// The embedded store's admin view is an AdminReader.
var _ httpapi.AdminReader = (*local.AdminView)(nil)
