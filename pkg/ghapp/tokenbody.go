package ghapp

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// tokenBodyTransport replaces the body "null" of an installation token
// request with "{}". ghinstallation sends "null" when its
// InstallationTokenOptions are nil, which GitHub's description does not
// allow; "{}" asks for the installation's full permissions. Setting the
// options instead would import the go-github major version ghinstallation
// was built against (v88) next to the one dispatcher uses.
type tokenBodyTransport struct{ next http.RoundTripper }

func (t tokenBodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/access_tokens") || r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	if trimmed := bytes.TrimSpace(body); bytes.Equal(trimmed, []byte("null")) {
		body = []byte("{}")
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	b := body
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return t.next.RoundTrip(r2)
}
