package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// poster sends the HTTP requests of webhook and chat targets and turns their
// outcome into a DeliveryError.
type poster struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

func newPoster(timeout time.Duration) *poster {
	return &poster{
		client: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect could carry a signed notice to another host; the
			// receiver's configuration is wrong and a person must fix it.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		timeout: timeout,
		now:     time.Now,
	}
}

// maxErrorBody bounds how much of a failed response's body goes into the
// error: enough for a receiver's reason, not a page of HTML.
const maxErrorBody = 256

// post sends body to rawURL once, within the poster's timeout. header may set
// extra headers; it runs last, so signatures see the final body.
func (p *poster) post(ctx context.Context, target, rawURL string, body []byte, header func(http.Header)) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Target: target, Permanent: true, Err: errors.New("cannot build request")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "termination-orders-notify")
	if header != nil {
		header(req.Header)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return transportError(target, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return &DeliveryError{Target: target, StatusCode: code, Permanent: true,
			Err: fmt.Errorf("HTTP %d: redirect not followed; configure the final URL", code)}
	}
	de := &DeliveryError{Target: target, StatusCode: code, Permanent: !retryableStatus(code),
		Err: fmt.Errorf("HTTP %d%s", code, describeBody(snippet))}
	if !de.Permanent {
		de.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), p.now())
	}
	return de
}

// transportError strips the URL that net/http puts in its errors: a chat
// webhook's URL is a credential and errors end up in logs and histories.
func transportError(target string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var cve *tls.CertificateVerificationError
	return &DeliveryError{Target: target, Permanent: errors.As(err, &cve), Err: err}
}

// describeBody makes a receiver's error body fit on one log line.
func describeBody(b []byte) string {
	s := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "?")))
	if s == "" {
		return ""
	}
	return ": " + s
}
