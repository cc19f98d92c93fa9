// Package compat is a drop-in for the Go event store this service grew from: an EventStore whose
// method set is exactly the original's (SaveEvent, GetEvents, GetLatestVersion,
// GetLatestSnapshot, SaveSnapshot), with its Event and ActorSnapshot types, backed by the
// eventstore service. A caller of the old store changes only the constructor:
//
//	store, err := compat.New(nc) // was: a JetStream or in-memory store
//
// Differences from the original, all on the safe side:
//   - GetLatestSnapshot returns nil, nil when the actor has no snapshot (the original returned an
//     error, after waiting a second).
//   - Version checks hold across any number of processes and service replicas, and a SaveEvent
//     retried after a lost reply (same id, same version) succeeds instead of conflicting.
//   - GetEvents(actorID, fromVersion) returns the events with a version strictly greater than
//     fromVersion, as the service's events endpoint does: GetEvents(id, 0) is every event, and
//     GetEvents(id, snapshot.Version) is what follows a snapshot.
//
// Every call runs with context.Background(), bounded by the client's per-attempt timeout and
// retry policy; use the eventstore.Client for contexts, paging and the other endpoints.
package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	eventstore "github.com/nats-eventstore/nats-eventstore/clients/go"
	"github.com/nats-io/nats.go"
)

// Event is the original store's event, with the contract's JSON names.
type Event struct {
	ID        string                 `json:"id"`
	EventType string                 `json:"eventType"`
	ActorID   string                 `json:"actorId"`
	Version   int64                  `json:"version"`
	Data      map[string]interface{} `json:"data"`
	// Metadata is optional (correlationId, causationId, ...).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Timestamp: the zero time lets the service set it when it stores the event.
	Timestamp time.Time `json:"timestamp"`
}

// ActorSnapshot is the original store's snapshot, with the contract's JSON names.
type ActorSnapshot struct {
	ActorID   string                 `json:"actorId"`
	Version   int64                  `json:"version"`
	State     map[string]interface{} `json:"state"`
	Timestamp time.Time              `json:"timestamp"`
}

// VersionConflictError is the original's conflict error (the same type as the client's), with
// ActorID, AttemptedVersion and CurrentVersion; errors.Is(err, ErrVersionConflict) holds for it.
type VersionConflictError = eventstore.VersionConflictError

// ErrVersionConflict is the sentinel of every version conflict.
var ErrVersionConflict = eventstore.ErrVersionConflict

// EventStore is the original store's interface, served by the eventstore service.
type EventStore struct {
	client *eventstore.Client
}

// New returns an EventStore over nc, a connection the caller owns; opts configure the
// underlying client (timeout, retries).
func New(nc *nats.Conn, opts ...eventstore.Option) (*EventStore, error) {
	c, err := eventstore.New(nc, opts...)
	if err != nil {
		return nil, err
	}
	return FromClient(c), nil
}

// FromClient returns an EventStore that uses c.
func FromClient(c *eventstore.Client) *EventStore { return &EventStore{client: c} }

// SaveEvent stores the event if its version is above the actor's latest, else returns
// *VersionConflictError with the actor's real current version.
func (s *EventStore) SaveEvent(event *Event) error {
	if event == nil {
		return errors.New("compat: SaveEvent of a nil event")
	}
	data, err := jsonObject(event.Data)
	if err != nil {
		return fmt.Errorf("compat: the data of event %q: %w", event.ID, err)
	}
	_, err = s.client.Save(context.Background(), eventstore.Event{
		ID:        event.ID,
		EventType: event.EventType,
		ActorID:   event.ActorID,
		Version:   event.Version,
		Data:      data,
		Metadata:  event.Metadata,
		Timestamp: timestamp(event.Timestamp),
	})
	return err
}

// GetEvents returns the actor's events with a version strictly greater than fromVersion, in
// ascending order (all of them, however many requests it takes); an empty slice when there are
// none.
func (s *EventStore) GetEvents(actorID string, fromVersion int64) ([]*Event, error) {
	out := []*Event{}
	for e, err := range s.client.Events(context.Background(), actorID, eventstore.EventsOptions{FromVersion: fromVersion}) {
		if err != nil {
			return nil, err
		}
		ev := &Event{ID: e.ID, EventType: e.EventType, ActorID: e.ActorID, Version: e.Version, Metadata: e.Metadata}
		if err := json.Unmarshal(e.Data, &ev.Data); err != nil {
			return nil, fmt.Errorf("compat: the data of event %q: %w", e.ID, err)
		}
		if ev.Timestamp, err = e.Time(); err != nil {
			return nil, fmt.Errorf("compat: the timestamp of event %q: %w", e.ID, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// GetLatestVersion returns the actor's latest version, 0 when it has no events.
func (s *EventStore) GetLatestVersion(actorID string) (int64, error) {
	return s.client.Version(context.Background(), actorID)
}

// GetLatestSnapshot returns the actor's snapshot with the highest version, or nil, nil when it
// has none (the original store returned an error, after a one-second wait).
func (s *EventStore) GetLatestSnapshot(actorID string) (*ActorSnapshot, error) {
	snap, err := s.client.GetSnapshot(context.Background(), actorID)
	if err != nil || snap == nil {
		return nil, err
	}
	out := &ActorSnapshot{ActorID: snap.ActorID, Version: snap.Version}
	if err := json.Unmarshal(snap.State, &out.State); err != nil {
		return nil, fmt.Errorf("compat: the snapshot state of %q: %w", actorID, err)
	}
	if snap.Timestamp != "" {
		if out.Timestamp, err = eventstore.ParseTimestamp(snap.Timestamp); err != nil {
			return nil, fmt.Errorf("compat: the snapshot timestamp of %q: %w", actorID, err)
		}
	}
	return out, nil
}

// SaveSnapshot stores the snapshot; one whose version is ahead of the actor's latest event is
// refused with *VersionConflictError.
func (s *EventStore) SaveSnapshot(snapshot *ActorSnapshot) error {
	if snapshot == nil {
		return errors.New("compat: SaveSnapshot of a nil snapshot")
	}
	state, err := jsonObject(snapshot.State)
	if err != nil {
		return fmt.Errorf("compat: the snapshot state of %q: %w", snapshot.ActorID, err)
	}
	return s.client.SaveSnapshot(context.Background(), eventstore.Snapshot{
		ActorID:   snapshot.ActorID,
		Version:   snapshot.Version,
		State:     state,
		Timestamp: timestamp(snapshot.Timestamp),
	})
}

// jsonObject encodes a map as a JSON object, nil as {}, without HTML escaping (as JavaScript's
// JSON.stringify writes it).
func jsonObject(m map[string]interface{}) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}
