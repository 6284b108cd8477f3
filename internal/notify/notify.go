package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message is one notification. Channels render it as they can: Slack as
// mrkdwn, Teams as an Adaptive Card, e-mail as plain text.
type Message struct {
	// Subject is a one-line headline (the e-mail subject; bold in chats).
	Subject string
	// Text is the body, plain text; line breaks are kept.
	Text string
	// Link, when set, is an absolute URL shown as a button or a trailing
	// line, e.g. the receiver's dashboard page for the study.
	Link string
	// LinkText labels Link; "Open dashboard" when empty.
	LinkText string
}

// DefaultLinkText labels Message.Link when LinkText is empty.
const DefaultLinkText = "Open dashboard"

func (m Message) linkText() string {
	if m.LinkText != "" {
		return m.LinkText
	}
	return DefaultLinkText
}

// Sender delivers a Message on one channel. Send makes one attempt; see the
// package documentation for what its errors mean. Implementations are safe
// for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Channel names used in errors and by callers for metrics labels.
const (
	ChannelSlack = "slack"
	ChannelTeams = "teams"
	ChannelSMTP  = "smtp"
)

// Error is a failed Send. Its text never holds a webhook URL's path or
// query, nor an SMTP password.
type Error struct {
	// Channel is ChannelSlack, ChannelTeams or ChannelSMTP.
	Channel string
	// Code is the HTTP status or SMTP reply code; 0 when no answer came.
	Code int
	// Permanent says another attempt cannot help.
	Permanent bool
	// RetryAfter is the server's Retry-After; 0 when it sent none.
	RetryAfter time.Duration
	// Detail says what went wrong, already redacted and bounded.
	Detail string

	cause error
}

// Error returns e.g. `slack: 400 Bad Request: invalid_payload (permanent)`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Channel)
	b.WriteString(":")
	if e.Code != 0 {
		fmt.Fprintf(&b, " %d", e.Code)
	}
	if e.Detail != "" {
		if e.Code != 0 {
			b.WriteString(":")
		}
		b.WriteString(" " + e.Detail)
	}
	if e.Permanent {
		b.WriteString(" (permanent)")
	} else {
		b.WriteString(" (retryable)")
	}
	return b.String()
}

// Unwrap returns the cause when it is safe to expose (context errors, for
// errors.Is(err, context.DeadlineExceeded)); causes whose text could hold a
// secret are not kept.
func (e *Error) Unwrap() error { return e.cause }

// IsPermanent reports whether err is a failure that another attempt cannot
// fix. Errors that are not from this package (and nil) are not permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns how long the server asked the caller to wait before
// trying again, if it said.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// contextCause keeps ctx's error as the cause when the failure came from it,
// so callers can tell shutdown from a failing service.
func contextCause(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}
