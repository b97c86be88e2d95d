// Package smtptest runs a real SMTP submission server (go-smtp) on 127.0.0.1
// for tests: STARTTLS with a self-signed certificate, AUTH PLAIN with fixed
// credentials, and a record of every message it accepted.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The credentials the server accepts.
const (
	User     = "notifier"
	Password = "correct horse battery staple"
)

// Message is one message the server accepted.
type Message struct {
	// From and To are the envelope's MAIL FROM and RCPT TO addresses.
	From string
	To   []string
	// Data is the message as submitted (headers and body).
	Data []byte
	// TLS reports whether it was submitted after STARTTLS.
	TLS bool
}

// Parse reads the message's headers and body.
func (m Message) Parse() (*mail.Message, error) {
	return mail.ReadMessage(bytes.NewReader(m.Data))
}

// Subject is the message's Subject header, decoded.
func (m Message) Subject() (string, error) {
	pm, err := m.Parse()
	if err != nil {
		return "", err
	}
	var dec mime.WordDecoder
	return dec.DecodeHeader(pm.Header.Get("Subject"))
}

// Options shape a Server. The zero value is a careful submission server:
// STARTTLS offered, AUTH only over TLS.
type Options struct {
	// NoTLS offers no STARTTLS.
	NoTLS bool
	// InsecureAuth offers AUTH without TLS, as a careless server would.
	InsecureAuth bool
}

// Server is a running SMTP server; it stops when the test ends. It requires
// AUTH (User, Password) before MAIL, as a submission server does.
type Server struct {
	addr  string
	roots *x509.CertPool

	mu        sync.Mutex
	msgs      []Message
	authTries int
	rcptErr   error
}

// NewServer starts a server on a free port of 127.0.0.1.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	srv := &Server{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: srv, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = opts.InsecureAuth
	if !opts.NoTLS {
		cert, roots, err := selfSignedCert()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		srv.roots = roots
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	srv.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return srv
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// RootCAs trust the server's self-signed certificate (for 127.0.0.1 and
// localhost); nil when the server offers no TLS.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// AuthAttempts counts the AUTH exchanges clients started, right or wrong.
func (s *Server) AuthAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authTries
}

// SetRcptError makes the server answer every RCPT with err (e.g. an
// *smtp.SMTPError); nil accepts recipients again.
func (s *Server) SetRcptError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErr = err
}

type session struct {
	server *Server
	conn   *smtp.Conn
	authed bool
	msg    Message
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.server.mu.Lock()
		s.server.authTries++
		s.server.mu.Unlock()
		if username != User || password != Password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg = Message{From: from, TLS: isTLS}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.server.mu.Lock()
	err := s.server.rcptErr
	s.server.mu.Unlock()
	if err != nil {
		return err
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = data
	s.server.mu.Lock()
	s.server.msgs = append(s.server.msgs, s.msg)
	s.server.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

// selfSignedCert makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSignedCert() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots, nil
}
