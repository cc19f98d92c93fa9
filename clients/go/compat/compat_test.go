package compat_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	eventstore "github.com/nats-eventstore/nats-eventstore/clients/go"
	"github.com/nats-eventstore/nats-eventstore/clients/go/compat"
	"github.com/nats-eventstore/nats-eventstore/clients/go/internal/testenv"
	"github.com/nats-io/nats.go"
)

// The original store's interface: the adapter must satisfy it unchanged.
type originalEventStore interface {
	SaveEvent(event *compat.Event) error
	GetEvents(actorID string, fromVersion int64) ([]*compat.Event, error)
	GetLatestVersion(actorID string) (int64, error)
	GetLatestSnapshot(actorID string) (*compat.ActorSnapshot, error)
	SaveSnapshot(snapshot *compat.ActorSnapshot) error
}

var _ originalEventStore = (*compat.EventStore)(nil)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start(1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

func store(t *testing.T) originalEventStore {
	nc, err := nats.Connect(env.URL, nats.UserInfo(testenv.ServiceUser, testenv.ServicePassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s, err := compat.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func uid() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func ev(actorID string, version int64, data map[string]interface{}) *compat.Event {
	return &compat.Event{ID: uid(), EventType: "Happened", ActorID: actorID, Version: version, Data: data}
}

func TestVersionsStrictlyIncrease(t *testing.T) {
	s := store(t)
	actor := "order-" + uid()
	if v, err := s.GetLatestVersion(actor); err != nil || v != 0 {
		t.Fatalf("new actor: %d, %v", v, err)
	}
	for _, v := range []int64{1, 2, 5} {
		if err := s.SaveEvent(ev(actor, v, map[string]interface{}{"v": v})); err != nil {
			t.Fatalf("save %d: %v", v, err)
		}
	}
	for _, attempted := range []int64{5, 4, 1} {
		err := s.SaveEvent(ev(actor, attempted, nil))
		var conflict *compat.VersionConflictError
		if !errors.As(err, &conflict) || !errors.Is(err, compat.ErrVersionConflict) {
			t.Fatalf("save %d: %v, want a conflict", attempted, err)
		}
		if conflict.ActorID != actor || conflict.AttemptedVersion != attempted || conflict.CurrentVersion != 5 {
			t.Fatalf("conflict %+v: want the real current version 5", conflict)
		}
	}
	if v, err := s.GetLatestVersion(actor); err != nil || v != 5 {
		t.Fatalf("latest: %d, %v", v, err)
	}
	// A retry of a stored event (same id, same version) is not a conflict.
	e := ev(actor, 6, nil)
	if err := s.SaveEvent(e); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveEvent(e); err != nil {
		t.Fatalf("retry of a stored event: %v", err)
	}
	if err := s.SaveEvent(nil); err == nil {
		t.Fatal("nil event accepted")
	}
}

func TestGetEventsFromVersion(t *testing.T) {
	s := store(t)
	actor := "account-" + uid()
	at := time.Date(2025, 4, 1, 12, 30, 0, 123_000_000, time.UTC)
	for v := int64(1); v <= 4; v++ {
		e := ev(actor, v, map[string]interface{}{"amount": float64(v) * 1.5, "tags": []interface{}{"a"}})
		e.Metadata = map[string]string{"correlationId": "c-1"}
		if v == 2 {
			e.Timestamp = at
		}
		if err := s.SaveEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.GetEvents(actor, 0)
	if err != nil || len(all) != 4 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	for i, e := range all {
		if e.Version != int64(i+1) || e.ActorID != actor || e.EventType != "Happened" || e.Data["amount"] != float64(i+1)*1.5 ||
			e.Metadata["correlationId"] != "c-1" || e.Timestamp.IsZero() {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if !all[1].Timestamp.Equal(at) {
		t.Fatalf("timestamp %v, want %v", all[1].Timestamp, at)
	}
	from, err := s.GetEvents(actor, 2)
	if err != nil || len(from) != 2 || from[0].Version != 3 {
		t.Fatalf("from 2: %v, %v: want versions 3 and 4", from, err)
	}
	none, err := s.GetEvents("nobody-"+uid(), 0)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("no events: %#v, %v", none, err)
	}
}

func TestSnapshots(t *testing.T) {
	s := store(t)
	actor := "cart-" + uid()
	start := time.Now()
	snap, err := s.GetLatestSnapshot(actor)
	if snap != nil || err != nil {
		t.Fatalf("no snapshot: %v, %v: want nil, nil", snap, err)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Fatalf("took %s (the original waited a second)", time.Since(start))
	}
	ahead := &compat.ActorSnapshot{ActorID: actor, Version: 1, State: map[string]interface{}{}}
	if err := s.SaveSnapshot(ahead); !errors.Is(err, compat.ErrVersionConflict) {
		t.Fatalf("snapshot ahead of the events: %v", err)
	}
	for v := int64(1); v <= 3; v++ {
		if err := s.SaveEvent(ev(actor, v, nil)); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	if err := s.SaveSnapshot(&compat.ActorSnapshot{ActorID: actor, Version: 3, State: map[string]interface{}{"items": 3.0, "owner": "<me>"}, Timestamp: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(&compat.ActorSnapshot{ActorID: actor, Version: 2, State: map[string]interface{}{"items": 2.0}}); err != nil {
		t.Fatal(err)
	}
	snap, err = s.GetLatestSnapshot(actor)
	if err != nil || snap == nil || snap.Version != 3 || snap.State["items"] != 3.0 || snap.State["owner"] != "<me>" || !snap.Timestamp.Equal(at) {
		t.Fatalf("latest snapshot %+v, %v", snap, err)
	}
	// Replay after the snapshot.
	after, err := s.GetEvents(actor, snap.Version)
	if err != nil || len(after) != 0 {
		t.Fatalf("events after the snapshot: %v, %v", after, err)
	}
}

// Every timestamp the service accepts reads back, leap seconds and lowercase "t"/"z" included:
// one such event used to fail GetEvents for the whole actor.
func TestReadsEveryAcceptedTimestamp(t *testing.T) {
	nc, err := nats.Connect(env.URL, nats.UserInfo(testenv.ServiceUser, testenv.ServicePassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c, err := eventstore.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s := compat.FromClient(c)
	ctx := context.Background()
	actor := "clock-" + uid()
	want := map[string]time.Time{
		"2016-12-31T23:59:60Z":              time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2024-01-01t10:00:00z":              time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC),
		"2015-06-30T16:59:60.5-07:00":       time.Date(2015, 7, 1, 0, 0, 0, 5e8, time.UTC),
		"2024-01-01T10:00:00.123456789012Z": time.Date(2024, 1, 1, 10, 0, 0, 123456789, time.UTC),
	}
	var version int64
	for text := range want {
		version++
		e := eventstore.Event{ID: uid(), EventType: "Ticked", ActorID: actor, Version: version, Data: json.RawMessage(`{}`), Timestamp: text}
		if _, err := c.Save(ctx, e); err != nil {
			t.Fatalf("save at %s: %v", text, err)
		}
		if err := c.SaveSnapshot(ctx, eventstore.Snapshot{ActorID: actor, Version: version, State: json.RawMessage(`{}`), Timestamp: text}); err != nil {
			t.Fatalf("snapshot at %s: %v", text, err)
		}
		snap, err := s.GetLatestSnapshot(actor)
		if err != nil || !snap.Timestamp.Equal(want[text]) {
			t.Fatalf("snapshot at %s: %+v, %v; want %v", text, snap, err, want[text])
		}
	}
	events, err := s.GetEvents(actor, 0)
	if err != nil || len(events) != len(want) {
		t.Fatalf("GetEvents: %d events, %v", len(events), err)
	}
	stored, err := c.EventList(ctx, actor)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if text := stored[i].Timestamp; !e.Timestamp.Equal(want[text]) {
			t.Errorf("event %d at %s read as %v, want %v", e.Version, text, e.Timestamp, want[text])
		}
	}
}
