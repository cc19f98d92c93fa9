package eventstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-eventstore/nats-eventstore/clients/go/internal/testenv"
	"github.com/nats-io/nats.go"
)

// A fake responder on a subject of its own answers each error the contract lists, so that every
// typed error is rebuilt from headers and body, including those the real service cannot be made
// to send here (410 before erase exists, 500, 501 on a recent nats-server, 503).
func fakeResponder(t *testing.T, subject string, answer func(n int, m *nats.Msg) *nats.Msg) *[]string {
	t.Helper()
	nc := connect(t, testenv.ServiceUser, testenv.ServicePassword)
	var mu sync.Mutex
	var seen []string
	_, err := nc.Subscribe(subject, func(m *nats.Msg) {
		mu.Lock()
		seen = append(seen, string(m.Data))
		n := len(seen)
		mu.Unlock()
		_ = m.RespondMsg(answer(n, m))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	return &seen
}

func errorReply(code, message, body string) *nats.Msg {
	m := nats.NewMsg("")
	m.Header.Set("Nats-Service-Error-Code", code)
	m.Header.Set("Nats-Service-Error", message)
	m.Data = []byte(body)
	return m
}

func TestErrorsFromReplies(t *testing.T) {
	c := newClient(t, WithRetry(RetryPolicy{Attempts: 1}))
	cases := []struct {
		name, code, body string
		check            func(error) bool
	}{
		{"400", "400", `{"error":{"code":400,"message":"/version: must be >= 1","errors":[{"path":"/version","message":"must be >= 1"}]}}`, func(err error) bool {
			var e *ValidationError
			return errors.As(err, &e) && errors.Is(err, ErrValidation) && len(e.Errors) == 1 && e.Errors[0].Path == "/version"
		}},
		{"404", "404", `{"error":{"code":404,"message":"no snapshot"}}`, func(err error) bool {
			return errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInternal)
		}},
		{"409", "409", `{"error":{"code":409,"message":"conflict","actorId":"a-1","attemptedVersion":2,"currentVersion":5,"conflicts":[{"actorId":"a-1","attemptedVersion":2,"currentVersion":5},{"actorId":"b-1","attemptedVersion":1,"currentVersion":1}]}}`, func(err error) bool {
			var e *VersionConflictError
			return errors.As(err, &e) && errors.Is(err, ErrVersionConflict) && e.ActorID == "a-1" && e.AttemptedVersion == 2 &&
				e.CurrentVersion == 5 && len(e.Conflicts) == 2 && e.Conflicts[1].ActorID == "b-1"
		}},
		{"409 condition", "409", `{"error":{"code":409,"message":"condition failed","condition":{"position":57}}}`, func(err error) bool {
			var e *ConditionFailedError
			return errors.As(err, &e) && errors.Is(err, ErrConditionFailed) && !errors.Is(err, ErrVersionConflict) && e.Position == 57 &&
				err.Error() == "eventstore: condition failed"
		}},
		{"410", "410", `{"error":{"code":410,"message":"erased","actorId":"a-1","erasedAt":"2025-01-01T00:00:00.000Z"}}`, func(err error) bool {
			var e *ErasedError
			return errors.As(err, &e) && errors.Is(err, ErrErased) && e.ActorID == "a-1" && e.ErasedAt == "2025-01-01T00:00:00.000Z"
		}},
		{"500", "500", `{"error":{"code":500,"message":"internal error"}}`, func(err error) bool {
			return errors.Is(err, ErrInternal) && Code(err) == 500
		}},
		{"501", "501", `{"error":{"code":501,"message":"needs 2.12","requiredServerVersion":"2.12.0"}}`, func(err error) bool {
			var e *NotSupportedError
			return errors.As(err, &e) && errors.Is(err, ErrNotSupported) && e.RequiredServerVersion == "2.12.0"
		}},
		{"headers only", "409", `not json`, func(err error) bool {
			return errors.Is(err, ErrVersionConflict) && err.Error() == "eventstore: from the header"
		}},
		{"unknown code", "418", `{"error":{"code":418,"message":"teapot"}}`, func(err error) bool {
			return errors.Is(err, ErrInternal) && Code(err) == 500
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			subject := "fake." + uid()
			fakeResponder(t, subject, func(int, *nats.Msg) *nats.Msg { return errorReply(tc.code, "from the header", tc.body) })
			err := c.requestBytes(ctxFor(t), subject, []byte(`{}`), nil)
			if !tc.check(err) {
				t.Fatalf("%T %v: not the expected error", err, err)
			}
			if Code(err) == 0 {
				t.Fatalf("no code in %v", err)
			}
		})
	}
}

// A 503 is retried with the same bytes; a 409 is not retried.
func TestUnavailableIsRetried(t *testing.T) {
	retries := 0
	c := newClient(t, WithRetry(RetryPolicy{Attempts: 4, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		OnRetry: func(i RetryInfo) {
			if errors.Is(i.Err, ErrUnavailable) {
				retries++
			}
		}}))
	subject := "fake." + uid()
	seen := fakeResponder(t, subject, func(n int, m *nats.Msg) *nats.Msg {
		if n <= 2 {
			return errorReply("503", "JetStream unavailable", `{"error":{"code":503,"message":"JetStream unavailable"}}`)
		}
		r := nats.NewMsg("")
		r.Data = []byte(`{"actorId":"a-1","version":1,"sequence":9,"duplicate":true}`)
		return r
	})
	var r SaveResult
	if err := c.request(ctxFor(t), subject, event("a-1", 1, `{"k":"<&>"}`), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Duplicate || r.Sequence != 9 || retries != 2 || len(*seen) != 3 { // the responder is done: it answered
		t.Fatalf("%+v after %d retries, %d attempts", r, retries, len(*seen))
	}
	for _, p := range *seen {
		if p != (*seen)[0] {
			t.Fatalf("attempts differ: %s / %s", (*seen)[0], p)
		}
	}

	var conflicts atomic.Int32
	subject = "fake." + uid()
	fakeResponder(t, subject, func(int, *nats.Msg) *nats.Msg {
		conflicts.Add(1)
		return errorReply("409", "conflict", `{"error":{"code":409,"message":"conflict"}}`)
	})
	if err := c.requestBytes(ctxFor(t), subject, []byte(`{}`), nil); !errors.Is(err, ErrVersionConflict) || conflicts.Load() != 1 {
		t.Fatalf("%v after %d attempts: a conflict is not retried", err, conflicts.Load())
	}
}
