package notify_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cloudmarket/termination-orders/internal/smtptest"
	"github.com/cloudmarket/termination-orders/notify"
)

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

func secureSMTP(ms *smtptest.Server) notify.SMTP {
	return notify.SMTP{Address: ms.Addr(), Username: smtptest.User, Password: smtptest.Password, StartTLS: true, RootCAs: ms.RootCAs()}
}

var unlinkNotice = notify.Notice{
	ID:      "order-123/01JABCDEF/unlink/1",
	Kind:    "operations.unlink_requested",
	OrderID: "order-123",
	Subject: "Unlink requested: order-123 (Kündigung ✓)",
	Text:    "Please unlink account 111122223333.\n.a line that starts with a dot\nThanks, the termination service — 🚀",
}

func TestEmailIsSubmittedOverSTARTTLSWithAuth(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{})
	tgt := emailTarget(t, secureSMTP(ms), 0)

	require.NoError(t, tgt.Send(context.Background(), unlinkNotice))
	require.NoError(t, tgt.Send(context.Background(), unlinkNotice), "a retry sends again; the Message-ID lets receivers drop it")

	msgs := ms.Messages()
	require.Len(t, msgs, 2)
	got := msgs[0]
	assert.True(t, got.TLS, "submitted after STARTTLS")
	assert.Equal(t, 2, ms.AuthAttempts(), "one AUTH PLAIN per send")
	assert.Equal(t, "orders@cloudmarket.example", got.From)
	assert.Equal(t, []string{"ops@cloudmarket.example"}, got.To)

	m, err := mail.ReadMessage(bytes.NewReader(got.Data))
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

	second, err := mail.ReadMessage(bytes.NewReader(msgs[1].Data))
	require.NoError(t, err)
	assert.Equal(t, m.Header.Get("Message-ID"), second.Header.Get("Message-ID"), "stable across retries")
}

func TestEmailRecipientReplies(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{})
	tgt := emailTarget(t, secureSMTP(ms), 0)

	ms.SetRcptError(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"})
	err := tgt.Send(context.Background(), unlinkNotice)
	var de *notify.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 550, de.StatusCode)
	assert.True(t, de.Permanent, "5xx is permanent: %v", err)
	assert.Contains(t, err.Error(), "No such user")

	ms.SetRcptError(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"})
	err = tgt.Send(context.Background(), unlinkNotice)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 451, de.StatusCode)
	assert.False(t, de.Permanent, "4xx is retryable: %v", err)

	assert.Empty(t, ms.Messages())
}

func TestEmailWrongPasswordIsPermanent(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{})
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
	ms := smtptest.NewServer(t, smtptest.Options{NoTLS: true, InsecureAuth: true})

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
	assert.Zero(t, ms.AuthAttempts(), "credentials never went over plain text")
	assert.Empty(t, ms.Messages())
}

func TestEmailUntrustedCertificateIsPermanent(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{})
	s := secureSMTP(ms)
	s.RootCAs = x509.NewCertPool() // trusts nothing
	err := emailTarget(t, s, 0).Send(context.Background(), unlinkNotice)
	assert.True(t, notify.IsPermanent(err), "%v", err)
	assert.Zero(t, ms.AuthAttempts())
}

func TestEmailRejectsHeaderInjection(t *testing.T) {
	ms := smtptest.NewServer(t, smtptest.Options{})
	n := unlinkNotice
	n.Subject = "Hello\r\nBcc: attacker@example.com"
	err := emailTarget(t, secureSMTP(ms), 0).Send(context.Background(), n)
	assert.True(t, notify.IsPermanent(err), "%v", err)
	assert.Empty(t, ms.Messages())
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
