package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// email submits a notice to one recipient over SMTP. One recipient per target
// keeps a retry from mailing again those who already got it.
type email struct {
	name      string
	to        *mail.Address
	from      *mail.Address
	smtp      SMTP
	host      string // the server's name, checked against its certificate
	localName string
	timeout   time.Duration
	now       func() time.Time
}

// newEmail expects addresses that validate has accepted.
func newEmail(name, to string, s SMTP, timeout time.Duration) *email {
	toAddr, _ := parseAddress(to)
	fromAddr, _ := parseAddress(s.From)
	host, _, _ := net.SplitHostPort(s.Address)
	localName, err := os.Hostname()
	if err != nil || localName == "" {
		localName = "localhost"
	}
	return &email{name: name, to: toAddr, from: fromAddr, smtp: s, host: host,
		localName: localName, timeout: timeout, now: time.Now}
}

// Name implements Target.
func (e *email) Name() string { return e.name }

// Send implements Target.
func (e *email) Send(ctx context.Context, n Notice) error {
	if err := checkNotice(e.name, n); err != nil {
		return err
	}
	msg, err := e.message(n)
	if err != nil {
		return &DeliveryError{Target: e.name, Permanent: true, Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.smtp.Address)
	if err != nil {
		return &DeliveryError{Target: e.name, Err: err}
	}
	defer conn.Close()
	// net/smtp takes no context: closing the connection once the attempt's
	// time is up, or the caller gives up, ends any read or write. It runs
	// after ctx is done, so the error below is reported as ctx's.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	err = e.submit(conn, msg)
	if err != nil && ctx.Err() != nil {
		return &DeliveryError{Target: e.name, Err: fmt.Errorf("%w (%v)", ctx.Err(), err)}
	}
	return e.classify(err)
}

// submit runs one SMTP session. Its own refusals are *DeliveryErrors; server
// replies come back as *textproto.Error.
func (e *email) submit(conn net.Conn, msg []byte) error {
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(e.localName); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		err := c.StartTLS(&tls.Config{ServerName: e.host, RootCAs: e.smtp.RootCAs, MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
	} else if e.smtp.StartTLS {
		return &DeliveryError{Target: e.name, Permanent: true,
			Err: errors.New("SMTP server does not offer STARTTLS, which notify.smtp.starttls requires")}
	}
	if e.smtp.Username != "" {
		// Checked here, not left to net/smtp, which sends PLAIN credentials
		// in the clear to a server named localhost.
		if _, isTLS := c.TLSConnectionState(); !isTLS {
			return &DeliveryError{Target: e.name, Permanent: true,
				Err: errors.New("refusing to send SMTP credentials without TLS")}
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return &DeliveryError{Target: e.name, Permanent: true,
				Err: errors.New("SMTP server does not offer AUTH, but notify.smtp.username is set")}
		}
		if err := c.Auth(smtp.PlainAuth("", e.smtp.Username, e.smtp.Password, e.host)); err != nil {
			return err
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(e.to.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// The message is accepted once DATA is; a failed QUIT must not make the
	// caller send it again.
	_ = c.Quit()
	return nil
}

// classify follows SMTP's own reply classes: 4xx is transient, 5xx permanent.
func (e *email) classify(err error) error {
	if err == nil {
		return nil
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return &DeliveryError{Target: e.name, StatusCode: te.Code, Permanent: te.Code >= 500,
			Err: fmt.Errorf("SMTP %d %s", te.Code, strings.TrimSpace(te.Msg))}
	}
	var cve *tls.CertificateVerificationError
	return &DeliveryError{Target: e.name, Permanent: errors.As(err, &cve), Err: err}
}

// message renders n as an RFC 5322 message with CRLF line ends.
func (e *email) message(n Notice) ([]byte, error) {
	_, domain, _ := strings.Cut(e.from.Address, "@")
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", e.from.String()},
		{"To", e.to.String()},
		// QEncoding leaves plain ASCII readable and encodes the rest.
		{"Subject", mime.QEncoding.Encode("utf-8", n.Subject)},
		{"Date", e.now().Format(time.RFC1123Z)},
		{"Message-ID", MessageID(n.ID, domain)},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	} {
		if strings.ContainsAny(h[1], "\r\n") {
			return nil, fmt.Errorf("%s header would span lines", h[0])
		}
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	// Quoted-printable keeps the body 7-bit with short lines whatever the
	// text holds, so no relay rewraps or rejects it.
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(n.Text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MessageID is the Message-ID header a notice with this ID gets when mailed
// from domain. It is the same on every attempt, so mail systems and ticketing
// tools drop the duplicates a retry produces. Characters that are not safe in
// a Message-ID are written as =XX, which keeps distinct IDs distinct.
func MessageID(noticeID, domain string) string {
	var b strings.Builder
	b.WriteByte('<')
	for i := range len(noticeID) {
		c := noticeID[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '/', c == '+':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	b.WriteString("@" + domain + ">")
	return b.String()
}
