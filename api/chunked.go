package api

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// limitChunkedBody reads a body of unknown length (chunked) up to
// api.max_body_bytes before the route does, so that one over the limit gets
// the same 413, with the same limit stated, as one announced too large.
// A body within the limit is handed on as read, with its length; a read
// error is handed on as it came, after the bytes read.
func (s *Server) limitChunkedBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
		switch {
		case int64(len(body)) > s.cfg.MaxBodyBytes:
			p := newProblem(TypePayloadTooLarge, http.StatusRequestEntityTooLarge,
				"the request body is larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes")
			p.Instance = instance(r.Context())
			w.Header().Set("Connection", "close")
			writeProblemHTTP(w, p)
			return
		case err != nil:
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), failingReader{err}))
		default:
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

// failingReader fails every read with its error.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }
