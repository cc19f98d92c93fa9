package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/nats-io/nats.go"
)

// The endpoints' subjects.
const (
	SubjectSave         = "eventstore.save"
	SubjectAppend       = "eventstore.append"
	SubjectTransact     = "eventstore.transact"
	SubjectEvents       = "eventstore.events"
	SubjectVersion      = "eventstore.version"
	SubjectSnapshotSave = "eventstore.snapshot.save"
	SubjectSnapshotGet  = "eventstore.snapshot.get"
	SubjectErase        = "eventstore.erase"
	SubjectRead         = "eventstore.read"
)

// request sends one endpoint request and decodes its reply into out, or returns the service's
// error. A timeout, no responders or a 503 is retried with backoff; every attempt sends the very
// same bytes (same event id, same timestamp), so an attempt whose reply was lost after the event
// was stored comes back from the retry as a duplicate, never as a conflict or a second copy.
func (c *Client) request(ctx context.Context, subject string, body any, out any) error {
	payload, err := marshal(body)
	if err != nil {
		return &ValidationError{Message: fmt.Sprintf("%s: the request cannot be encoded as JSON: %v", subject, err)}
	}
	return c.requestBytes(ctx, subject, payload, out)
}

func (c *Client) requestBytes(ctx context.Context, subject string, payload []byte, out any) error {
	for attempt := 1; ; attempt++ {
		failure, transient := c.attempt(ctx, subject, payload, out, attempt)
		if failure == nil {
			return nil
		}
		if !transient || attempt >= c.retry.Attempts {
			return failure
		}
		delay := backoff(c.retry, attempt)
		if c.retry.OnRetry != nil {
			c.retry.OnRetry(RetryInfo{Subject: subject, Attempt: attempt, Delay: delay, Err: failure})
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w (after attempt %d: %v)", subject, context.Cause(ctx), attempt, failure)
		case <-timer.C:
		}
	}
}

// attempt makes one request; transient says whether it may be retried.
func (c *Client) attempt(ctx context.Context, subject string, payload []byte, out any, n int) (err error, transient bool) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", subject, context.Cause(ctx)), false
	}
	attemptCtx, cancelTimeout := context.WithTimeout(ctx, c.timeout)
	defer cancelTimeout()
	// A permission violation reaches the connection's error handler, not the request: the
	// watcher cancels this attempt with a *PermissionError as its cause.
	attemptCtx, cancel := context.WithCancelCause(attemptCtx)
	defer cancel(nil)
	unwatch := c.perms.watch(subject, cancel)
	defer unwatch()

	msg, err := c.nc.RequestMsgWithContext(attemptCtx, &nats.Msg{Subject: subject, Data: payload})
	if err != nil {
		var perm *PermissionError
		switch {
		case errors.As(context.Cause(attemptCtx), &perm):
			return perm, false
		case errors.Is(err, nats.ErrPermissionViolation):
			return permissionError(err, subject), false
		case errors.Is(err, nats.ErrMaxPayload):
			// The caller's request cannot be sent at all: a 400, as the service answers for one over
			// its own limit, never retried.
			return &ValidationError{Message: fmt.Sprintf("%s: the request is too large: %d bytes, more than the NATS server's max_payload of %d",
				subject, len(payload), c.nc.MaxPayload())}, false
		case ctx.Err() != nil:
			// The caller's own deadline or cancellation: not ours to retry.
			return fmt.Errorf("%s: %w", subject, context.Cause(ctx)), false
		case errors.Is(err, nats.ErrNoResponders):
			return &Error{Code: CodeUnavailable, Err: nats.ErrNoResponders, Message: fmt.Sprintf(
				"%s: no responders: is an eventstore service running? (attempt %d of %d)", subject, n, c.retry.Attempts)}, true
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return &Error{Code: CodeUnavailable, Err: nats.ErrTimeout, Message: fmt.Sprintf(
				"%s: no reply within %s (attempt %d of %d)", subject, c.timeout, n, c.retry.Attempts)}, true
		default:
			// A closed or draining connection and the like: retrying on it cannot help.
			return fmt.Errorf("%s: %w", subject, err), false
		}
	}
	if refused := errorFromReply(msg); refused != nil {
		return refused, Code(refused) == CodeUnavailable
	}
	if out != nil {
		if err := json.Unmarshal(msg.Data, out); err != nil {
			return &Error{Code: CodeInternal, Message: fmt.Sprintf("%s: the reply is not the expected JSON: %v", subject, err)}, false
		}
	}
	return nil, false
}

// RetryInfo describes a retry that is about to happen, for logging or metrics.
type RetryInfo struct {
	Subject string
	// Attempt is the attempt that just failed, from 1.
	Attempt int
	// Delay is the pause before the next attempt.
	Delay time.Duration
	Err   error
}

// RetryPolicy says how timeouts, no responders and 503s are retried.
type RetryPolicy struct {
	// Attempts in all, the first included: 1 means never retry. Default 5.
	Attempts int
	// InitialDelay is the pause after the first failed attempt; each later pause doubles, up to
	// MaxDelay. Defaults 100 ms and 2 s.
	InitialDelay time.Duration
	MaxDelay     time.Duration
	// OnRetry, when set, is called before each pause.
	OnRetry func(RetryInfo)
}

// DefaultRetry is the TypeScript client's default policy.
var DefaultRetry = RetryPolicy{Attempts: 5, InitialDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}

// backoff is the pause after a failed attempt: exponential, capped, and drawn from its upper half
// so that clients that failed together do not all come back at the same instant.
func backoff(p RetryPolicy, attempt int) time.Duration {
	ceiling := p.MaxDelay
	if attempt-1 < 31 {
		if d := p.InitialDelay << (attempt - 1); d < ceiling && d >= p.InitialDelay {
			ceiling = d
		}
	}
	half := ceiling / 2
	if half <= 0 {
		return ceiling
	}
	return half + rand.N(half+1)
}

// permissionWatcher turns the permission violations that NATS reports to the connection's error
// handler into errors of the requests in flight on the refused subject.
type permissionWatcher struct {
	mu       sync.Mutex
	next     uint64
	inFlight map[uint64]watched
	// inboxPrefix is the connection's reply inbox prefix: a refused subscription under it fails
	// every request in flight.
	inboxPrefix string
}

type watched struct {
	subject string
	cancel  context.CancelCauseFunc
}

// watchers holds the one watcher of each connection, so that every client made with New on a
// connection shares the handler the first one chained in front of the connection's error handler
// (a handler per New would chain without end, and keep each client's watcher for the connection's
// lifetime). Its keys are weak: an entry does not keep its connection alive, and goes with it.
var watchers = struct {
	sync.Mutex
	of map[weak.Pointer[nats.Conn]]*permissionWatcher
}{of: map[weak.Pointer[nats.Conn]]*permissionWatcher{}}

// watcherOf returns nc's permission watcher, installing it on nc's first use.
func watcherOf(nc *nats.Conn) *permissionWatcher {
	key := weak.Make(nc)
	watchers.Lock()
	defer watchers.Unlock()
	if w, ok := watchers.of[key]; ok {
		return w
	}
	w := newPermissionWatcher(nc)
	watchers.of[key] = w
	runtime.AddCleanup(nc, func(key weak.Pointer[nats.Conn]) {
		watchers.Lock()
		defer watchers.Unlock()
		delete(watchers.of, key)
	}, key)
	return w
}

func newPermissionWatcher(nc *nats.Conn) *permissionWatcher {
	w := &permissionWatcher{inFlight: map[uint64]watched{}, inboxPrefix: nc.Opts.InboxPrefix}
	if w.inboxPrefix == "" {
		w.inboxPrefix = nats.InboxPrefix
	}
	previous := nc.ErrorHandler()
	nc.SetErrorHandler(func(conn *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			w.violation(err)
		}
		if previous != nil {
			previous(conn, sub, err)
		}
	})
	return w
}

func (w *permissionWatcher) watch(subject string, cancel context.CancelCauseFunc) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	id := w.next
	w.inFlight[id] = watched{subject: subject, cancel: cancel}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.inFlight, id)
	}
}

// The server's text: Permissions Violation for Publish to "x" / for Subscription to "x".
var violationRe = regexp.MustCompile(`(?i)permissions violation for (publish|subscription) to "?([^"\s]+)"?`)

func (w *permissionWatcher) violation(err error) {
	m := violationRe.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	operation, subject := strings.ToLower(m[1]), m[2]
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.inFlight {
		if (operation == "publish" && r.subject == subject) ||
			(operation == "subscription" && strings.HasPrefix(subject, w.inboxPrefix)) {
			r.cancel(&PermissionError{Operation: operation, Subject: subject, Err: err})
		}
	}
}

func permissionError(err error, subject string) *PermissionError {
	if m := violationRe.FindStringSubmatch(err.Error()); m != nil {
		return &PermissionError{Operation: strings.ToLower(m[1]), Subject: m[2], Err: err}
	}
	return &PermissionError{Operation: "publish", Subject: subject, Err: err}
}
