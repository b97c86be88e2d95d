package notify

import (
	"context"
	"encoding/json"
	"errors"
)

// chat posts to a Slack or Microsoft Teams incoming webhook. Both accept a
// bare {"text": ...} body, which keeps one adapter for the two.
type chat struct {
	name   string
	url    string
	poster *poster
}

func newChat(name, rawURL string, p *poster) *chat {
	return &chat{name: name, url: rawURL, poster: p}
}

// Name implements Target.
func (c *chat) Name() string { return c.name }

// Send implements Target. Chat services have no idempotency key, so a retry
// after a lost response may post the message twice; the notice ID is not
// shown, as people read these messages.
func (c *chat) Send(ctx context.Context, n Notice) error {
	if err := checkNotice(c.name, n); err != nil {
		return err
	}
	text := n.Subject
	if n.Text != "" {
		text += "\n\n" + n.Text
	}
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{text})
	if err != nil {
		return &DeliveryError{Target: c.name, Permanent: true, Err: errors.New("cannot encode chat message")}
	}
	return c.poster.post(ctx, c.name, c.url, body, nil)
}
