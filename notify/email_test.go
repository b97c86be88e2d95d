package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/notify"
)

const (
	smtpUser     = "notifier"
	smtpPassword = "correct horse battery staple"
)

// delivered is one message a test SMTP server accepted.
type delivered struct {
	from string
	to   []string
	data []byte
	tls  bool
}

// mailServer is a real SMTP server (go-smtp) on the loopback interface.
type mailServer struct {
	addr string
	// roots trust the server's self-signed certificate; nil without TLS.
	roots *x509.CertPool

	mu        sync.Mutex
	msgs      []delivered
	authTries int
	rcptErr   error // the reply to RCPT, if not nil
}

type mailServerOptions struct {
	tls       bool // offer STARTTLS with a self-signed certificate
	plainAuth bool // offer AUTH without TLS, as a careless server would
}

func newMailServer(t *testing.T, opts mailServerOptions) *mailServer {
	t.Helper()
	ms := &mailServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{server: ms, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = opts.plainAuth
	if opts.tls {
		cert, roots := selfSignedCert(t)
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ms.roots = roots
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ms.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

func (ms *mailServer) delivered() []delivered {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]delivered(nil), ms.msgs...)
}

func (ms *mailServer) authAttempts() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.authTries
}

func (ms *mailServer) setRcptError(err error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.rcptErr = err
}

// mailSession requires authentication when the server offers it, as a
// submission server does.
type mailSession struct {
	server *mailServer
	conn   *smtp.Conn
	authed bool
	msg    delivered
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.server.mu.Lock()
		s.server.authTries++
		s.server.mu.Unlock()
		if username != smtpUser || password != smtpPassword {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg = delivered{from: from, tls: isTLS}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.server.mu.Lock()
	err := s.server.rcptErr
	s.server.mu.Unlock()
	if err != nil {
		return err
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = data
	s.server.mu.Lock()
	s.server.msgs = append(s.server.msgs, s.msg)
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.msg = delivered{} }
func (s *mailSession) Logout() error { return nil }

// selfSignedCert makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "notify test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, roots
}

// emailTarget configures one Operations recipient on the server at addr.
func emailTarget(t *testing.T, s notify.SMTP, timeout time.Duration) notify.Target {
	t.Helper()
	if s.From == "" {
		s.From = "Termination Orders <orders@cloudmarket.example>"
	}
	n, err := notify.New(notify.Config{
		Operations:     notify.Targets{EmailTo: []string{"Operations Duty <ops@cloudmarket.example>"}},
		SMTP:           s,
		RequestTimeout: timeout,
	}, nil)
	require.NoError(t, err)
	tgt, ok := n.Target(notify.Operations, "operations.email[0]")
	require.True(t, ok)
	return tgt
}

func secureSMTP(ms *mailServer) notify.SMTP {
	return notify.SMTP{Address: ms.addr, Username: smtpUser, Password: smtpPassword, StartTLS: true, RootCAs: ms.roots}
}

var unlinkNotice = notify.Notice{
	ID:      "order-123/01JABCDEF/unlink/1",
	Kind:    "operations.unlink_requested",
	OrderID: "order-123",
	Subject: "Unlink requested: order-123 (Kündigung ✓)",
	Text:    "Please unlink account 111122223333.\n.a line that starts with a dot\nThanks, the termination service — 🚀",
}

func TestEmailIsSubmittedOverSTARTTLSWithAuth(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{tls: true})
	tgt := emailTarget(t, secureSMTP(ms), 0)

	require.NoError(t, tgt.Send(context.Background(), unlinkNotice))
	require.NoError(t, tgt.Send(context.Background(), unlinkNotice), "a retry sends again; the Message-ID lets receivers drop it")

	msgs := ms.delivered()
	require.Len(t, msgs, 2)
	got := msgs[0]
	assert.True(t, got.tls, "submitted after STARTTLS")
	assert.Equal(t, 2, ms.authAttempts(), "one AUTH PLAIN per send")
	assert.Equal(t, "orders@cloudmarket.example", got.from)
	assert.Equal(t, []string{"ops@cloudmarket.example"}, got.to)

	m, err := mail.ReadMessage(bytes.NewReader(got.data))
	require.NoError(t, err)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, unlinkNotice.Subject, subject)
	from, err := m.Header.AddressList("From")
	require.NoError(t, err)
	assert.Equal(t, []*mail.Address{{Name: "Termination Orders", Address: "orders@cloudmarket.example"}}, from)
	to, err := m.Header.AddressList("To")
	require.NoError(t, err)
	assert.Equal(t, []*mail.Address{{Name: "Operations Duty", Address: "ops@cloudmarket.example"}}, to)
	assert.Equal(t, "<order-123/01JABCDEF/unlink/1@cloudmarket.example>", m.Header.Get("Message-ID"))
	assert.Equal(t, notify.MessageID(unlinkNotice.ID, "cloudmarket.example"), m.Header.Get("Message-ID"))
	date, err := m.Header.Date()
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), date, time.Minute)
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	assert.Equal(t, "text/plain", mediaType)
	assert.Equal(t, "utf-8", params["charset"])
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	require.NoError(t, err)
	// SMTP ends the message with a line break of its own.
	assert.Equal(t, unlinkNotice.Text+"\n", strings.ReplaceAll(string(body), "\r\n", "\n"))

	second, err := mail.ReadMessage(bytes.NewReader(msgs[1].data))
	require.NoError(t, err)
	assert.Equal(t, m.Header.Get("Message-ID"), second.Header.Get("Message-ID"), "stable across retries")
}

func TestEmailRecipientReplies(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{tls: true})
	tgt := emailTarget(t, secureSMTP(ms), 0)

	ms.setRcptError(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"})
	err := tgt.Send(context.Background(), unlinkNotice)
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 550, de.StatusCode)
	assert.True(t, de.Permanent, "5xx is permanent: %v", err)
	assert.Contains(t, err.Error(), "No such user")

	ms.setRcptError(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
	err = tgt.Send(context.Background(), unlinkNotice)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 451, de.StatusCode)
	assert.False(t, de.Permanent, "4xx is retryable: %v", err)

	assert.Empty(t, ms.delivered())
}

func TestEmailWrongPasswordIsPermanent(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{tls: true})
	s := secureSMTP(ms)
	s.Password = "wrong"
	err := emailTarget(t, s, 0).Send(context.Background(), unlinkNotice)
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 535, de.StatusCode)
	assert.True(t, de.Permanent)
	assert.NotContains(t, err.Error(), "wrong")
}

func TestEmailRefusesAuthWithoutTLS(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{plainAuth: true})

	t.Run("STARTTLS required", func(t *testing.T) {
		err := emailTarget(t, secureSMTP(ms), 0).Send(context.Background(), unlinkNotice)
		assert.True(t, notify.IsPermanent(err), "%v", err)
		assert.ErrorContains(t, err, "STARTTLS")
	})
	t.Run("STARTTLS optional but credentials set", func(t *testing.T) {
		s := secureSMTP(ms)
		s.StartTLS = false
		err := emailTarget(t, s, 0).Send(context.Background(), unlinkNotice)
		assert.True(t, notify.IsPermanent(err), "%v", err)
		assert.ErrorContains(t, err, "without TLS")
	})
	assert.Zero(t, ms.authAttempts(), "credentials never went over plain text")
	assert.Empty(t, ms.delivered())
}

func TestEmailUntrustedCertificateIsPermanent(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{tls: true})
	s := secureSMTP(ms)
	s.RootCAs = x509.NewCertPool() // trusts nothing
	err := emailTarget(t, s, 0).Send(context.Background(), unlinkNotice)
	assert.True(t, notify.IsPermanent(err), "%v", err)
	assert.Zero(t, ms.authAttempts())
}

func TestEmailRejectsHeaderInjection(t *testing.T) {
	ms := newMailServer(t, mailServerOptions{tls: true})
	n := unlinkNotice
	n.Subject = "Hello\r\nBcc: attacker@example.com"
	err := emailTarget(t, secureSMTP(ms), 0).Send(context.Background(), n)
	assert.True(t, notify.IsPermanent(err), "%v", err)
	assert.Empty(t, ms.delivered())
}

func TestEmailSilentServerTimesOutRetryably(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // never greets
		}
	}()
	tgt := emailTarget(t, notify.SMTP{Address: ln.Addr().String(), StartTLS: true}, 200*time.Millisecond)

	start := time.Now()
	err = tgt.Send(context.Background(), unlinkNotice)
	assert.Less(t, time.Since(start), 5*time.Second)
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.False(t, de.Permanent)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	select {
	case c := <-accepted:
		c.Close()
	default:
	}
}

func TestEmailConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	err = emailTarget(t, notify.SMTP{Address: addr, StartTLS: true}, time.Second).Send(context.Background(), unlinkNotice)
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.False(t, de.Permanent)
	assert.Zero(t, de.StatusCode)
}

func TestMessageIDEncodesUnsafeCharacters(t *testing.T) {
	assert.Equal(t, "<order-1/a=2Eb=20c=3D@example.com>", notify.MessageID("order-1/a.b c=", "example.com"))
	assert.NotEqual(t, notify.MessageID("a.b", "x"), notify.MessageID("a=2Eb", "x"))
}
