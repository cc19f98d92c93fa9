package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/nats-eventstore/nats-eventstore/clients/go/internal/testenv"
	"github.com/nats-io/nats.go"
)

// New may be called for every request: clients of one connection share one error handler, so
// a million of them keep nothing (one handler chained per New kept 114 MB), and the connection's
// own handler and the permission errors still work.
func TestNewKeepsNothingPerCall(t *testing.T) {
	nc := connect(t, testenv.WriterUser, testenv.WriterPassword)
	var asyncErrors int
	nc.SetErrorHandler(func(*nats.Conn, *nats.Subscription, error) { asyncErrors++ })
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	const calls = 200_000
	for range calls {
		if _, err := New(nc); err != nil {
			t.Fatal(err)
		}
	}
	// One handler per call kept about 114 bytes each, 22 MB here.
	if grown := int64(heap()) - int64(before); grown > 2<<20 {
		t.Fatalf("%d calls of New kept %d bytes", calls, grown)
	}
	c, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Erase(ctxFor(t), actor("w"), "")
	if Code(err) != CodePermission || time.Since(start) > 2*time.Second {
		t.Fatalf("erase as writer: %v after %s, want a permission error at once", err, time.Since(start))
	}
	if asyncErrors != 1 {
		t.Fatalf("the connection's own error handler ran %d times for one violation, want 1", asyncErrors)
	}
}

// The shared handler's entry does not keep its connection alive, and goes with it.
func TestNewDoesNotKeepTheConnection(t *testing.T) {
	nc, err := nats.Connect(env.URL, nats.UserInfo(testenv.ServiceUser, testenv.ServicePassword))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(nc); err != nil {
		t.Fatal(err)
	}
	gone := weak.Make(nc)
	watchers.Lock()
	_, registered := watchers.of[gone]
	watchers.Unlock()
	if !registered {
		t.Fatal("the connection's watcher is not registered")
	}
	nc.Close()
	nc = nil
	for i := 0; ; i++ {
		runtime.GC()
		watchers.Lock()
		_, registered = watchers.of[gone]
		watchers.Unlock()
		if gone.Value() == nil && !registered {
			return
		}
		if i == 100 {
			t.Fatalf("after closing and dropping it: collected %v, still registered %v", gone.Value() == nil, registered)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cancelling the context ends Events at the next event, also inside a page already received.
func TestEventsEndsWithItsContext(t *testing.T) {
	c := newClient(t)
	id := actor("ledger")
	var batch []Event
	for v := int64(1); v <= 10; v++ {
		batch = append(batch, event(id, v, `{}`))
	}
	if _, err := c.Append(ctxFor(t), id, batch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	var seen []int64
	var last error
	for e, err := range c.Events(ctx, id) { // one page holds all ten
		if err != nil {
			last = err
			break
		}
		seen = append(seen, e.Version)
		if e.Version == 3 {
			cancel()
		}
	}
	if len(seen) != 3 || !errors.Is(last, context.Canceled) || Code(last) != 0 {
		t.Fatalf("saw %v then %v: want versions 1-3, then the context's error", seen, last)
	}
}

// An event too large for NATS to send is the caller's: a 400 like the service's "too large".
func TestOverMaxPayloadIsValidation(t *testing.T) {
	var retried bool
	c := newClient(t, WithRetry(RetryPolicy{OnRetry: func(RetryInfo) { retried = true }}))
	id := actor("big")
	pad := strings.Repeat("x", int(c.nc.MaxPayload()))
	_, err := c.Save(ctxFor(t), event(id, 1, `{"pad":"`+pad+`"}`))
	var invalid *ValidationError
	if !errors.As(err, &invalid) || !errors.Is(err, ErrValidation) || Code(err) != CodeValidation || retried {
		t.Fatalf("save over max_payload: %v (code %d, retried %v), want a validation error", err, Code(err), retried)
	}
	if !strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("message %q should say too large and max_payload", err)
	}
	err = c.SaveSnapshot(ctxFor(t), Snapshot{ActorID: id, Version: 1, State: json.RawMessage(`{"pad":"` + pad + `"}`)})
	if Code(err) != CodeValidation {
		t.Fatalf("snapshot over max_payload: %v, want 400", err)
	}
}

// Every date-time the service accepts reads; the text stays as stored.
func TestParseTimestamp(t *testing.T) {
	for text, want := range map[string]time.Time{
		"2024-01-01T10:00:00Z":                     time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC),
		"2024-01-01t10:00:00z":                     time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC),
		"2024-01-01t10:00:00.5+01:00":              time.Date(2024, 1, 1, 9, 0, 0, 5e8, time.UTC),
		"2024-01-01T10:00:00.1234567890123456789Z": time.Date(2024, 1, 1, 10, 0, 0, 123456789, time.UTC),
		"2016-12-31T23:59:60Z":                     time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2016-12-31T23:59:60.25z":                  time.Date(2017, 1, 1, 0, 0, 0, 25e7, time.UTC),
		"2016-12-31T15:59:60-08:00":                time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"0000-01-01T00:00:00Z":                     time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTimestamp(text)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v, %v; want %v", text, got, err, want)
		}
		e := Event{Timestamp: text}
		if got, err := e.Time(); err != nil || !got.Equal(want) {
			t.Errorf("Event.Time %s: %v, %v", text, got, err)
		}
	}
	for _, text := range []string{"", "2024-01-01 10:00:00Z", "2024-01-01T10:00:00+0100", "2024-01-01T10:00:00", "2024-01-01T10:00:61Z"} {
		if _, err := ParseTimestamp(text); err == nil {
			t.Errorf("%q parsed", text)
		}
	}
}
