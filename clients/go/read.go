package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
)

// ReadOptions select which part of the log Read returns.
type ReadOptions struct {
	// From is the first position to consider, inclusive; 0: the first, or with Backwards the last.
	From uint64
	// Backwards reads descending positions, from From down.
	Backwards bool
	// Limit is the most events returned in all; 0: every matching event.
	Limit int
	// PageSize is the number of events per request (1..10000); 0: as many as fit in one reply.
	PageSize int
}

// maxPage is the largest limit one read request may ask for (read.request.json).
const maxPage = 10000

// Reader is a read of the whole log (contract v3), made by Client.Read. It is not safe for
// concurrent use.
type Reader struct {
	c       *Client
	ctx     context.Context
	subject string // SubjectRead; a test's stand-in elsewhere
	query   *Query
	opts    ReadOptions
	head    uint64
}

// Read returns the events of the whole log that match query (nil: every event) in position order,
// from opts.From on, across as many requests as it takes: iterate Reader.All. Then Reader.Head is
// the After of a Condition decided on what the read returned:
//
//	q := &eventstore.Query{Items: []eventstore.QueryItem{{Tags: []string{"username:alice"}}}}
//	r := es.Read(ctx, q)
//	for e, err := range r.All() { ... }
//	_, err := es.Append(ctx, id, events, eventstore.WriteOptions{
//		Condition: &eventstore.Condition{FailIfEventsMatch: *q, After: r.Head()},
//	})
func (c *Client) Read(ctx context.Context, query *Query, opts ...ReadOptions) *Reader {
	r := &Reader{c: c, ctx: ctx, subject: SubjectRead, query: query}
	if len(opts) > 0 {
		r.opts = opts[0]
	}
	return r
}

// Head is a position up to which every matching event (from From on) was returned, for a
// Condition's After: 0 until the read has returned something to stand on. Forwards, the position
// of the latest event returned, and the last page's head once every page is read (a later page
// saw more of the log); backwards, the first page's head (events stored since lie above where the
// read started), also when the iteration stops early.
func (r *Reader) Head() uint64 { return r.head }

// All iterates over the events, following hasMore; each iteration reads anew. An error ends the
// iteration as its last pair. Each event's Raw holds its JSON as stored.
func (r *Reader) All() iter.Seq2[PositionedEvent, error] {
	return func(yield func(PositionedEvent, error) bool) {
		o := r.opts
		if o.Limit < 0 {
			yield(PositionedEvent{}, &ValidationError{Message: fmt.Sprintf("%s: Limit must be >= 0, got %d", SubjectRead, o.Limit)})
			return
		}
		r.head = 0
		from, returned := o.From, 0
		for first := true; ; first = false {
			want := o.PageSize
			if left := o.Limit - returned; o.Limit > 0 && (want == 0 || left < want) {
				want = left
			}
			if want > maxPage {
				want = 0 // as many as fit: the iteration stops at Limit
			}
			req := struct {
				Query     *Query `json:"query,omitempty"`
				From      uint64 `json:"from,omitempty"`
				Limit     int    `json:"limit,omitempty"`
				Backwards bool   `json:"backwards,omitempty"`
			}{r.query, from, want, o.Backwards}
			var page readPage
			if err := r.c.request(r.ctx, r.subject, req, &page); err != nil {
				yield(PositionedEvent{}, err)
				return
			}
			if first && o.Backwards {
				r.head = page.Head
			}
			for i, entry := range page.Events {
				// A page is read whole, but the caller's context ends the iteration between events.
				if err := r.ctx.Err(); err != nil {
					yield(PositionedEvent{}, fmt.Errorf("%s: %w", SubjectRead, context.Cause(r.ctx)))
					return
				}
				var e Event
				if err := json.Unmarshal(entry.Event, &e); err != nil {
					yield(PositionedEvent{}, &Error{Code: CodeInternal, Message: fmt.Sprintf("%s: an event is not the expected JSON: %v", SubjectRead, err)})
					return
				}
				e.Raw = entry.Event
				// Before the yield: a caller that stops here has this event.
				if !o.Backwards {
					r.head = entry.Position
				}
				if !yield(PositionedEvent{Position: entry.Position, Event: e}, nil) {
					return
				}
				returned++
				if returned == o.Limit && i < len(page.Events)-1 {
					return // events of this page were left out: the head stays at the last one returned
				}
			}
			if !page.HasMore {
				if !o.Backwards {
					r.head = page.Head
				}
				return
			}
			if o.Limit > 0 && returned == o.Limit {
				return
			}
			if len(page.Events) == 0 {
				yield(PositionedEvent{}, &Error{Code: CodeInternal, Message: SubjectRead + ": an empty page that says more follow"})
				return
			}
			last := page.Events[len(page.Events)-1].Position
			switch {
			case !o.Backwards:
				from = last + 1
			case last <= 1:
				return // nothing lies below position 1 (and a From of 0 would mean "from the last")
			default:
				from = last - 1
			}
		}
	}
}
