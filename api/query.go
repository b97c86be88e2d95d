package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cloudmarket/termination-orders/order"
)

// checkQuery refuses a query string that Go's parsing would drop in part
// without a word (a malformed %-escape, a ';' separator) or that holds text
// that is not UTF-8: a caller must never get the first page, or another
// listing, for a parameter it did send.
func (s *Server) checkQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fields := queryProblems(r.URL.RawQuery); len(fields) > 0 {
			p := invalid("invalid query string", fields...)
			p.Instance = instance(r.Context())
			writeProblemHTTP(w, p)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// queryProblems names each parameter of a raw query that cannot be read as sent.
func queryProblems(raw string) []*order.FieldError {
	var fields []*order.FieldError
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(rawKey)
		switch {
		case err != nil || !utf8.ValidString(key):
			fields = append(fields, &order.FieldError{Field: "(query)",
				Rule: "parameter names must be URL-encoded UTF-8 (a '%' is followed by two hex digits), got " + quoteShort(rawKey)})
			continue
		case strings.Contains(part, ";"):
			fields = append(fields, &order.FieldError{Field: key, Rule: "must be separated from other parameters by '&', not ';' (send a ';' in a value as %3B)"})
			continue
		}
		if value, err := url.QueryUnescape(rawValue); err != nil || !utf8.ValidString(value) {
			fields = append(fields, &order.FieldError{Field: key,
				Rule: "must be URL-encoded UTF-8 (a '%' is followed by two hex digits), got " + quoteShort(rawValue)})
		}
	}
	return fields
}

// quoteShort quotes a rejected raw value, cut to a readable length.
func quoteShort(v string) string {
	const max = 40
	if len(v) > max {
		v = v[:max] + "…"
	}
	return strconv.Quote(v)
}
