package ghapp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// MaxResponseBytes caps the body of every answer the client reads from
// GitHub (tokens included): go-github and ghinstallation decode whole
// bodies into memory, so a misbehaving server or proxy could otherwise
// exhaust it. The largest legitimate answer, a page of 100 workflow runs,
// is a few hundred KiB; dispatching.yml is capped separately at 64 KiB
// decoded (dispatching.MaxFileSize).
const MaxResponseBytes = 10 << 20

// ErrResponseTooLarge: an answer's body was longer than MaxResponseBytes.
// The client does not retry such a call (the same request would get the
// same answer): a read fails permanently; a dispatch answered 2xx was
// applied and succeeds, its run is looked up instead.
var ErrResponseTooLarge = errors.New("GitHub's answer is too large")

// capTransport makes reading more than max bytes of a response body fail
// with ErrResponseTooLarge.
type capTransport struct {
	next http.RoundTripper
	max  int64
}

func (t capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &cappedBody{rc: resp.Body, left: t.max, max: t.max}
	}
	return resp, err
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64 // bytes still allowed
	max  int64
	err  error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read one byte more than allowed to tell "exactly max" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = fmt.Errorf("%w: larger than %d bytes", ErrResponseTooLarge, b.max)
	return n, b.err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
