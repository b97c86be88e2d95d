package config

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// APIServer is the HTTP API's settings (termination-api, and the dev command).
type APIServer struct {
	// ListenAddress is the host:port the API listens on.
	ListenAddress string
	// Keys are the API keys callers may present as bearer tokens, as
	// written; package api reads them (api.ParseKey), which owns their
	// format and the roles.
	Keys []APIKeyEntry
	// OIDC, when its issuer is set, accepts JWTs from that provider.
	OIDC OIDC
	// CORSOrigins are the browser origins allowed to call the API; none
	// means no cross-origin access at all.
	CORSOrigins []string
	// MaxBodyBytes bounds a request body; larger ones are refused with 413.
	MaxBodyBytes int64
	// IdempotencyKeyTTL is how long an Idempotency-Key is remembered with
	// the request it came with.
	IdempotencyKeyTTL time.Duration
	// RequestTimeout bounds each call to Temporal made for a request.
	RequestTimeout time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout are the HTTP server's.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// ShutdownTimeout is how long a stopping server lets requests finish.
	ShutdownTimeout time.Duration
}

// APIKeyEntry is one entry of api.keys_file or api.keys, as written:
// name:role:sha256-hex. It holds no key, only its hash.
type APIKeyEntry struct {
	// Setting is where the entry is: api.keys_file or api.keys; Place is
	// where in it ("line 3", "entry 2"), for errors that must not quote it
	// (a key pasted by mistake may sit in it).
	Setting, Place string
	Text           string
}

// OIDC is the OpenID Connect provider whose JWTs the API accepts.
type OIDC struct {
	// Issuer is the provider's issuer URL, as in its tokens' iss claim.
	Issuer string
	// Audience must be among the token's aud claim.
	Audience string
	// JWKSURL is where the provider's signing keys are; empty means the
	// jwks_uri of the issuer's discovery document.
	JWKSURL string
	// RoleClaim names the claim that holds the caller's role (a string, or
	// an array holding exactly one role).
	RoleClaim string
}

// DefaultAPIAddress is where the API listens unless configured.
const DefaultAPIAddress = "127.0.0.1:8234"

var apiKeys = []key{
	{"api.listen_address", "api-address", DefaultAPIAddress, "host:port the HTTP API listens on", API | Dev},
	{"api.keys_file", "api-keys-file", "", "file of API keys, one name:role:sha256-hex per line (see termination-api new-key)", API | Dev},
	{"api.keys", "api-keys", "", "API keys as comma-separated name:role:sha256-hex entries (prefer the environment variable)", API | Dev},
	{"api.oidc.issuer", "api-oidc-issuer", "", "OpenID Connect issuer URL whose JWTs are accepted; empty for none", API | Dev},
	{"api.oidc.audience", "api-oidc-audience", "", "audience the JWTs must be issued for (required with an issuer)", API | Dev},
	{"api.oidc.jwks_url", "api-oidc-jwks-url", "", "the issuer's JWKS URL (default: from its discovery document)", API | Dev},
	{"api.oidc.role_claim", "api-oidc-role-claim", "role", "JWT claim holding the caller's role", API | Dev},
	{"api.cors_origins", "api-cors-origins", "", "comma-separated browser origins allowed to call the API; empty for none", API | Dev},
	{"api.max_body_bytes", "api-max-body-bytes", "65536", "largest request body accepted, in bytes", API | Dev},
	{"api.idempotency_key_ttl", "api-idempotency-key-ttl", "24h", "how long an Idempotency-Key is remembered with its request", API | Dev},
	{"api.request_timeout", "api-request-timeout", "30s", "every request is answered within it: 503 unavailable, or 504 outcome-unknown for a write sent to Temporal, when the store or Temporal do not answer in time", API | Dev},
	{"api.read_timeout", "api-read-timeout", "15s", "HTTP server: longest time to read a request", API | Dev},
	{"api.write_timeout", "api-write-timeout", "45s", "HTTP server: longest time to write a response (more than api.request_timeout)", API | Dev},
	{"api.idle_timeout", "api-idle-timeout", "2m", "HTTP server: how long an idle keep-alive connection stays open", API | Dev},
	{"api.shutdown_timeout", "api-shutdown-timeout", "20s", "how long a stopping API lets running requests finish", API | Dev},
}

func loadAPI(v *viper.Viper, bad func(name, rule string, args ...any)) APIServer {
	a := APIServer{
		ListenAddress: v.GetString("api.listen_address"),
		OIDC: OIDC{
			Issuer:    strings.TrimSpace(v.GetString("api.oidc.issuer")),
			Audience:  strings.TrimSpace(v.GetString("api.oidc.audience")),
			JWKSURL:   strings.TrimSpace(v.GetString("api.oidc.jwks_url")),
			RoleClaim: strings.TrimSpace(v.GetString("api.oidc.role_claim")),
		},
	}
	if err := checkHostPort(a.ListenAddress); err != nil && !strings.HasPrefix(a.ListenAddress, ":") {
		bad("api.listen_address", "%v", err)
	}

	if file := v.GetString("api.keys_file"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			bad("api.keys_file", "cannot be read: %v", err)
		} else {
			for i, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				a.Keys = append(a.Keys, APIKeyEntry{Setting: "api.keys_file", Place: "line " + strconv.Itoa(i+1), Text: line})
			}
		}
	}
	for i, entry := range splitList(v.GetString("api.keys")) {
		a.Keys = append(a.Keys, APIKeyEntry{Setting: "api.keys", Place: "entry " + strconv.Itoa(i+1), Text: entry})
	}

	if a.OIDC.Issuer != "" {
		if u, err := url.Parse(a.OIDC.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("api.oidc.issuer", "must be an http(s) URL such as https://login.example.com/, got %q", a.OIDC.Issuer)
		}
		if a.OIDC.Audience == "" {
			bad("api.oidc.audience", "is required with api.oidc.issuer: tokens issued for other clients must not be accepted")
		}
		if a.OIDC.RoleClaim == "" {
			bad("api.oidc.role_claim", "must name the claim that holds the role")
		}
		if a.OIDC.JWKSURL != "" {
			if u, err := url.Parse(a.OIDC.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("api.oidc.jwks_url", "must be an http(s) URL, got %q", a.OIDC.JWKSURL)
			}
		}
	}

	for _, o := range splitList(v.GetString("api.cors_origins")) {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || u.Path != "") {
			bad("api.cors_origins", "each origin must be scheme://host[:port] such as https://orders.example.com, got %q", o)
		}
		a.CORSOrigins = append(a.CORSOrigins, o)
	}

	n, err := strconv.ParseInt(v.GetString("api.max_body_bytes"), 10, 64)
	if err != nil || n < 1024 || n > 16<<20 {
		bad("api.max_body_bytes", "must be a whole number of bytes from 1024 to 16777216, got %q", v.GetString("api.max_body_bytes"))
	}
	a.MaxBodyBytes = n

	for _, d := range []struct {
		name, example string
		dst           *time.Duration
	}{
		{"api.idempotency_key_ttl", "24h", &a.IdempotencyKeyTTL},
		{"api.request_timeout", "30s", &a.RequestTimeout},
		{"api.read_timeout", "15s", &a.ReadTimeout},
		{"api.write_timeout", "45s", &a.WriteTimeout},
		{"api.idle_timeout", "2m", &a.IdleTimeout},
		{"api.shutdown_timeout", "20s", &a.ShutdownTimeout},
	} {
		dur, err := time.ParseDuration(v.GetString(d.name))
		if err != nil || dur <= 0 {
			bad(d.name, "must be a positive duration such as %s, got %q", d.example, v.GetString(d.name))
		}
		*d.dst = dur
	}
	if a.WriteTimeout > 0 && a.RequestTimeout > 0 && a.WriteTimeout <= a.RequestTimeout {
		bad("api.write_timeout", "must be longer than api.request_timeout (%s), so that an answer can still be written, got %s", a.RequestTimeout, a.WriteTimeout)
	}
	return a
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
