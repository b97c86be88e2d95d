package bench

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiverSecret signs the benchmark's webhooks (32 bytes, as Standard
// Webhooks asks); it protects nothing.
var receiverSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("termination-bench-webhook-secret"))

// receiver is the webhook endpoint of the benchmark's notifications: it
// verifies each signature and keeps each event once, by its webhook-id, as a
// marketplace or ticketing system would.
type receiver struct {
	srv      *http.Server
	url      string
	verifier *standardwebhooks.Webhook

	mu       sync.Mutex
	events   map[string]string // webhook-id → type
	requests int
	invalid  int
}

func startReceiver() (*receiver, error) {
	wh, err := standardwebhooks.NewWebhook(receiverSecret)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{verifier: wh, events: map[string]string{}, url: "http://" + ln.Addr().String() + "/events"}
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Type string `json:"type"`
	}
	raw, err := readAll(req)
	valid := err == nil && r.verifier.Verify(raw, req.Header) == nil && json.Unmarshal(raw, &body) == nil
	r.mu.Lock()
	r.requests++
	if valid {
		r.events[req.Header.Get("webhook-id")] = body.Type
	} else {
		r.invalid++
	}
	r.mu.Unlock()
	if !valid {
		http.Error(w, "bad signature or body", http.StatusBadRequest)
	}
}

// counts returns the distinct events by type, the requests and the invalid ones.
func (r *receiver) counts() (byType map[string]int, requests, invalid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byType = map[string]int{}
	for _, t := range r.events {
		byType[t]++
	}
	return byType, r.requests, r.invalid
}

func (r *receiver) close() { _ = r.srv.Close() }

func readAll(req *http.Request) ([]byte, error) {
	defer req.Body.Close()
	return io.ReadAll(io.LimitReader(req.Body, 1<<20))
}
