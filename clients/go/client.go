package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultTimeout is how long one attempt waits for its reply. It outlasts the service's own
// JetStream timeout (5 s), so that a slow JetStream comes back as a 503 rather than as silence.
const DefaultTimeout = 10 * time.Second

// Client calls the eventstore service's endpoints over a NATS connection the caller owns (and
// closes). It is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
	retry   RetryPolicy
	perms   *permissionWatcher
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout sets how long one attempt waits for its reply (default DefaultTimeout). The
// context of each call bounds the whole call, retries included.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetry sets the retry policy (default DefaultRetry). Zero fields take the default's value;
// Attempts: 1 turns retries off.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) {
		if p.Attempts == 0 {
			p.Attempts = DefaultRetry.Attempts
		}
		if p.InitialDelay == 0 {
			p.InitialDelay = DefaultRetry.InitialDelay
		}
		if p.MaxDelay == 0 {
			p.MaxDelay = max(DefaultRetry.MaxDelay, p.InitialDelay)
		}
		c.retry = p
	}
}

// New returns a client over nc. The first New on a connection chains a handler in front of nc's
// asynchronous error handler (the previous one still runs) to learn of permission violations,
// which NATS reports there rather than to the request: a request NATS refuses fails at once with
// *PermissionError instead of timing out. Later clients of the same connection share that
// handler, so New may be called as often as wanted. Set the connection's own error handler
// before the first New on it.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, errors.New("eventstore: New needs a NATS connection")
	}
	c := &Client{nc: nc, timeout: DefaultTimeout, retry: DefaultRetry}
	for _, opt := range opts {
		opt(c)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("eventstore: the timeout must be > 0, got %s", c.timeout)
	}
	if c.retry.Attempts < 1 {
		return nil, fmt.Errorf("eventstore: retry attempts must be >= 1, got %d", c.retry.Attempts)
	}
	if c.retry.InitialDelay < 0 || c.retry.MaxDelay < c.retry.InitialDelay {
		return nil, errors.New("eventstore: retry delays must satisfy 0 <= InitialDelay <= MaxDelay")
	}
	c.perms = watcherOf(nc)
	return c, nil
}

// Save stores one event if its version is above the actor's latest; *VersionConflictError (409)
// otherwise. Saving an event that is already stored (same actor, version and id) succeeds with
// Duplicate set and the original sequence.
func (c *Client) Save(ctx context.Context, event Event) (SaveResult, error) {
	var r SaveResult
	err := c.request(ctx, SubjectSave, event, &r)
	return r, err
}

// Append stores all the events (one actor, consecutive versions, distinct ids) or none of them.
// It needs nats-server >= 2.12 (*NotSupportedError, 501, otherwise). With a Condition (contract
// v3) it stores them only if the condition holds, else returns *ConditionFailedError.
func (c *Client) Append(ctx context.Context, actorID string, events []Event, opts ...WriteOptions) (AppendResult, error) {
	var r AppendResult
	err := c.request(ctx, SubjectAppend, struct {
		ActorID   string     `json:"actorId"`
		Events    []Event    `json:"events"`
		Condition *Condition `json:"condition,omitempty"`
	}{actorID, nonNil(events), conditionOf(opts)}, &r)
	return r, err
}

// Transact stores the events of several actors (1..100, each listed once, at most 1000 events
// in all) all together or not at all. A conflict on any actor stores nothing and returns
// *VersionConflictError whose Conflicts lists every actor that was behind. Retrying the same
// transaction answers Duplicate with the original sequences. With a Condition (contract v3) the
// transaction is stored only if the condition holds, else it returns *ConditionFailedError.
//
// The transact endpoint is part of contract v2; a service that does not have it yet answers
// nothing, which this client reports (after its retries) as ErrUnavailable wrapping
// nats.ErrNoResponders.
func (c *Client) Transact(ctx context.Context, appends []ActorEvents, opts ...WriteOptions) (TransactResult, error) {
	for i := range appends {
		appends[i].Events = nonNil(appends[i].Events)
	}
	var r TransactResult
	err := c.request(ctx, SubjectTransact, struct {
		Appends   []ActorEvents `json:"appends"`
		Condition *Condition    `json:"condition,omitempty"`
	}{nonNil(appends), conditionOf(opts)}, &r)
	return r, err
}

// conditionOf is the condition of a write's options, nil when none is given.
func conditionOf(opts []WriteOptions) *Condition {
	if len(opts) == 0 {
		return nil
	}
	return opts[0].Condition
}

// EventsOptions select which events Events returns.
type EventsOptions struct {
	// FromVersion: events with a version strictly greater than this (default 0: all).
	FromVersion int64
	// PageSize is the number of events per request (1..10000); 0: as many as fit in one reply.
	PageSize int
}

// Events iterates over the actor's events with a version above opts.FromVersion, in ascending
// order, across as many requests as it takes (it follows hasMore). An error ends the iteration
// as its last pair. Each event's Raw holds its JSON as stored.
func (c *Client) Events(ctx context.Context, actorID string, opts ...EventsOptions) iter.Seq2[Event, error] {
	var o EventsOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return func(yield func(Event, error) bool) {
		from := o.FromVersion
		for {
			req := struct {
				ActorID     string `json:"actorId"`
				FromVersion int64  `json:"fromVersion"`
				Limit       int    `json:"limit,omitempty"`
			}{actorID, from, o.PageSize}
			var page eventsPage
			if err := c.request(ctx, SubjectEvents, req, &page); err != nil {
				yield(Event{}, err)
				return
			}
			for _, raw := range page.Events {
				// A page is read whole, but the caller's context ends the iteration between events.
				if err := ctx.Err(); err != nil {
					yield(Event{}, fmt.Errorf("%s: %w", SubjectEvents, context.Cause(ctx)))
					return
				}
				var e Event
				if err := json.Unmarshal(raw, &e); err != nil {
					yield(Event{}, &Error{Code: CodeInternal, Message: fmt.Sprintf("%s: an event is not the expected JSON: %v", SubjectEvents, err)})
					return
				}
				e.Raw = raw
				if !yield(e, nil) {
					return
				}
				from = e.Version
			}
			if !page.HasMore {
				return
			}
			if len(page.Events) == 0 {
				yield(Event{}, &Error{Code: CodeInternal, Message: fmt.Sprintf("events of %q: an empty page that says more follow", actorID)})
				return
			}
		}
	}
}

// EventList collects Events into a slice.
func (c *Client) EventList(ctx context.Context, actorID string, opts ...EventsOptions) ([]Event, error) {
	var out []Event
	for e, err := range c.Events(ctx, actorID, opts...) {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Version returns the actor's latest version, 0 when it has no events (and, for an erased
// actor, the version it had reached: see VersionInfo).
func (c *Client) Version(ctx context.Context, actorID string) (int64, error) {
	info, err := c.VersionInfo(ctx, actorID)
	return info.Version, err
}

// VersionInfo is Version with the whole reply, which says whether the actor was erased.
func (c *Client) VersionInfo(ctx context.Context, actorID string) (VersionInfo, error) {
	var r VersionInfo
	err := c.request(ctx, SubjectVersion, struct {
		ActorID string `json:"actorId"`
	}{actorID}, &r)
	return r, err
}

// SaveSnapshot stores the actor's state as of a version. A snapshot whose version is ahead of
// the actor's latest event is refused with *VersionConflictError (409).
func (c *Client) SaveSnapshot(ctx context.Context, snapshot Snapshot) error {
	return c.request(ctx, SubjectSnapshotSave, snapshot, nil)
}

// GetSnapshot returns the actor's snapshot with the highest version; nil, nil when it has none.
func (c *Client) GetSnapshot(ctx context.Context, actorID string) (*Snapshot, error) {
	var s Snapshot
	err := c.request(ctx, SubjectSnapshotGet, struct {
		ActorID string `json:"actorId"`
	}{actorID}, &s)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// Erase removes the actor for good (the right to erasure): every event and snapshot, on every
// replica. Afterwards writes to the actor answer *ErasedError (410), Events answers nothing and
// GetSnapshot nil. Erasing again succeeds with zero counts and the first ErasedAt. reason
// (optional, at most 256 characters) is kept in the tombstone as given, so it must hold no
// personal data. The writer role may not erase: NATS then refuses the request
// (*PermissionError).
//
// The erase endpoint is part of contract v2; a service that does not have it yet answers nothing
// (ErrUnavailable wrapping nats.ErrNoResponders, after the retries).
func (c *Client) Erase(ctx context.Context, actorID, reason string) (EraseResult, error) {
	var r EraseResult
	err := c.request(ctx, SubjectErase, struct {
		ActorID string `json:"actorId"`
		Reason  string `json:"reason,omitempty"`
	}{actorID, reason}, &r)
	return r, err
}

// Loaded is an actor's state folded from its history and the version it reflects: save the
// next event at Version + 1.
type Loaded[S any] struct {
	State   S
	Version int64
}

// Load is the event-sourcing read path, as the TypeScript client's load: the latest snapshot when
// there is one (its state stands for every event up to its version), then every event after it
// folded with reducer, starting from initial when there is no snapshot. The state is a JSON
// object, as a snapshot holds it; LoadAs folds into any type instead.
func (c *Client) Load(ctx context.Context, actorID string, reducer func(map[string]any, Event) (map[string]any, error), initial map[string]any) (Loaded[map[string]any], error) {
	return LoadAs(ctx, c, actorID, reducer, initial)
}

// LoadAs is Load for any state type S: a snapshot's state is decoded from its JSON into an S
// (so S should be what the snapshot was saved from), and events are folded with reducer.
func LoadAs[S any](ctx context.Context, c *Client, actorID string, reducer func(S, Event) (S, error), initial S) (Loaded[S], error) {
	state, version := initial, int64(0)
	snapshot, err := c.GetSnapshot(ctx, actorID)
	if err != nil {
		return Loaded[S]{}, err
	}
	if snapshot != nil {
		var s S
		if err := json.Unmarshal(snapshot.State, &s); err != nil {
			return Loaded[S]{}, fmt.Errorf("eventstore: the snapshot of %q at version %d does not decode: %w", actorID, snapshot.Version, err)
		}
		state, version = s, snapshot.Version
	}
	for e, err := range c.Events(ctx, actorID, EventsOptions{FromVersion: version}) {
		if err != nil {
			return Loaded[S]{}, err
		}
		if state, err = reducer(state, e); err != nil {
			return Loaded[S]{}, fmt.Errorf("eventstore: reducing event %d of %q: %w", e.Version, actorID, err)
		}
		version = e.Version
	}
	return Loaded[S]{State: state, Version: version}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
