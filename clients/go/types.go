package eventstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one event of one actor, as saved, stored and returned. Its JSON is the contract's
// Event, and it keeps what the store keeps: Data is the object's JSON exactly as sent (numbers
// as written, keys in their order), and Timestamp the RFC 3339 text as sent or as the service
// set it. So an event read from the store and sent again is the same bytes.
type Event struct {
	// ID is unique per event and is the idempotency key (1..128 characters): use a UUID.
	ID string `json:"id"`
	// EventType names what happened (1..256 characters).
	EventType string `json:"eventType"`
	// ActorID is the actor (aggregate) the event belongs to (1..256 characters).
	ActorID string `json:"actorId"`
	// Version is the actor's version this event makes (1 .. 2^53-1).
	Version int64 `json:"version"`
	// Data is a JSON object; a nil Data is sent as {}.
	Data json.RawMessage `json:"data"`
	// Metadata holds string values such as correlationId and causationId; optional.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Tags are the consistency boundaries the event belongs to, such as "course:c1" (contract
	// v3): 0 to 16 distinct tags of 1..128 characters, stored and returned as sent. Read and
	// conditions select events by them.
	Tags []string `json:"tags,omitempty"`
	// Timestamp is RFC 3339; empty, the service sets it when it stores the event.
	Timestamp string `json:"timestamp,omitempty"`
	// Raw is the event's JSON exactly as the store returned it (set by Events); not sent.
	Raw json.RawMessage `json:"-"`
}

// Time parses Timestamp with ParseTimestamp.
func (e *Event) Time() (time.Time, error) { return ParseTimestamp(e.Timestamp) }

// ParseTimestamp reads an RFC 3339 date-time as the service accepts it (RFC 3339 section 5.6):
// "T" and "Z" in either case, any number of fraction digits (kept to the nanosecond), and a
// leap second, 23:59:60, which time.Time cannot hold: it reads as the first instant of the next
// minute (00:00:00 of the next day in UTC), as POSIX time counts it. The text itself (Timestamp)
// stays as stored.
func ParseTimestamp(s string) (time.Time, error) {
	// full-date "T" partial-time: the separator is at 10 and the seconds at 17-18.
	b := []byte(s)
	leap := false
	if len(b) > 19 {
		if b[10] == 't' {
			b[10] = 'T'
		}
		if last := len(b) - 1; b[last] == 'z' {
			b[last] = 'Z'
		}
		if leap = b[17] == '6' && b[18] == '0'; leap {
			b[17], b[18] = '5', '9'
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("eventstore: %q is not an RFC 3339 date-time: %w", s, err)
	}
	if leap {
		t = t.Add(time.Second)
	}
	return t, nil
}

// MarshalJSON returns the bytes the client sends for the event: the contract's Event without HTML
// escaping (as JavaScript's JSON.stringify writes it), so the Go and TypeScript clients send the
// same bytes for the same event. (json.Marshal of an Event applies its own HTML escaping on top;
// call MarshalJSON directly for the bytes as sent.)
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	p := plain(e)
	if len(p.Data) == 0 {
		p.Data = json.RawMessage("{}")
	}
	return marshal(p)
}

// Timestamp formats t the way the TypeScript client and the service do (UTC, milliseconds:
// 2006-01-02T15:04:05.000Z).
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// marshal is json.Marshal without HTML escaping and without the trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SaveResult is the reply to Save.
type SaveResult struct {
	ActorID string `json:"actorId"`
	Version int64  `json:"version"`
	// Sequence is the event's stream sequence.
	Sequence uint64 `json:"sequence"`
	// Duplicate is true when this exact event (actor, version, id) was stored before: the
	// reply of a retry, with the original Sequence.
	Duplicate bool `json:"duplicate"`
}

// AppendResult is the reply to Append.
type AppendResult struct {
	ActorID     string   `json:"actorId"`
	FromVersion int64    `json:"fromVersion"`
	ToVersion   int64    `json:"toVersion"`
	Sequences   []uint64 `json:"sequences"`
	Duplicate   bool     `json:"duplicate"`
}

// ActorEvents is one actor's part of a transaction: events of consecutive versions whose first
// is above the actor's latest.
type ActorEvents struct {
	ActorID string  `json:"actorId"`
	Events  []Event `json:"events"`
}

// TransactAppend is one actor's part of a Transact reply.
type TransactAppend struct {
	ActorID     string   `json:"actorId"`
	FromVersion int64    `json:"fromVersion"`
	ToVersion   int64    `json:"toVersion"`
	Sequences   []uint64 `json:"sequences"`
}

// TransactResult is the reply to Transact.
type TransactResult struct {
	Appends []TransactAppend `json:"appends"`
	// Duplicate is true when this same transaction was stored before (a retry).
	Duplicate bool `json:"duplicate"`
}

// Snapshot is an actor's state as of one of its versions. State is a JSON object, kept as sent.
type Snapshot struct {
	ActorID string          `json:"actorId"`
	Version int64           `json:"version"`
	State   json.RawMessage `json:"state"`
	// Timestamp is RFC 3339; empty, the service sets it.
	Timestamp string `json:"timestamp,omitempty"`
}

// MarshalJSON writes the contract's snapshot without HTML escaping; a nil State is sent as {}.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	type plain Snapshot
	p := plain(s)
	if len(p.State) == 0 {
		p.State = json.RawMessage("{}")
	}
	return marshal(p)
}

// EraseResult is the reply to Erase.
type EraseResult struct {
	ActorID string `json:"actorId"`
	// Version is the version the actor had reached.
	Version         int64 `json:"version"`
	ErasedEvents    int64 `json:"erasedEvents"`
	ErasedSnapshots int64 `json:"erasedSnapshots"`
	// ErasedAt is when the actor was first erased (RFC 3339); erasing again answers the same.
	ErasedAt string `json:"erasedAt"`
}

// VersionInfo is the full reply to a version request.
type VersionInfo struct {
	ActorID string `json:"actorId"`
	// Version is the actor's latest version, 0 when it has no events.
	Version int64 `json:"version"`
	// Erased is true when the actor was erased; Version is then the version it had reached.
	Erased bool `json:"erased,omitempty"`
}

// Query selects events of the whole log (contract v3): those matching any of its Items (1..16).
type Query struct {
	Items []QueryItem `json:"items"`
}

// QueryItem matches an event when the item has no Types or the event's EventType is one of them,
// and every tag of Tags is among the event's tags. An item has Types, Tags or both (each 1..16).
type QueryItem struct {
	Types []string `json:"types,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

// Condition makes Append or Transact store its events only if no event matching
// FailIfEventsMatch has a position above After (0: only if no matching event exists at all).
// nats-server checks it and stores the write as one atomic step; a refusal stores nothing and
// returns *ConditionFailedError.
type Condition struct {
	FailIfEventsMatch Query `json:"failIfEventsMatch"`
	// After is a position, usually the Head of the read the decision was made on.
	After uint64 `json:"after,omitempty"`
}

// WriteOptions are the options of Append and Transact.
type WriteOptions struct {
	// Condition, when set, is checked together with the write (contract v3).
	Condition *Condition
}

// PositionedEvent is one event of the whole log with its position (its stream sequence:
// positions increase in the order events were stored and may have gaps).
type PositionedEvent struct {
	Position uint64 `json:"position"`
	Event    Event  `json:"event"`
}

type eventsPage struct {
	ActorID string            `json:"actorId"`
	Events  []json.RawMessage `json:"events"`
	HasMore bool              `json:"hasMore"`
	Erased  bool              `json:"erased,omitempty"`
}

type readPage struct {
	Events []struct {
		Position uint64          `json:"position"`
		Event    json.RawMessage `json:"event"`
	} `json:"events"`
	HasMore bool   `json:"hasMore"`
	Head    uint64 `json:"head"`
}
