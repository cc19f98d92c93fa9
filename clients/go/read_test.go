package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-eventstore/nats-eventstore/clients/go/internal/testenv"
	"github.com/nats-io/nats.go"
)

// Contract v3 in the Go client: Read paging (against a stand-in that serves a log by the
// contract's paging rules, so that every page boundary is chosen here), what Append and Transact
// put on the wire, and read and conditions against the service (which pass once its stores
// implement v3).

type readRequest struct {
	Query     *Query `json:"query"`
	From      uint64 `json:"from"`
	Limit     int    `json:"limit"`
	Backwards bool   `json:"backwards"`
}

// fakeLog is count events at positions with gaps (2, 5, 8, ...), as index messages leave them.
func fakeLog(count int) []uint64 {
	out := make([]uint64, count)
	for i := range out {
		out[i] = uint64(2 + 3*i)
	}
	return out
}

// serveLog answers read requests on a subject of its own from positions, pageCap events a page at
// most, with head() as each page's head; it returns the requests it saw.
func serveLog(t *testing.T, subject string, positions []uint64, pageCap int, head func() uint64) func() []readRequest {
	t.Helper()
	var mu sync.Mutex
	var seen []readRequest
	fakeResponder(t, subject, func(_ int, m *nats.Msg) *nats.Msg {
		var req readRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return errorReply("400", err.Error(), `{}`)
		}
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		ordered := slices.Clone(positions)
		if req.Backwards {
			slices.Reverse(ordered)
		}
		var after []uint64
		for _, p := range ordered {
			if req.From == 0 || (req.Backwards && p <= req.From) || (!req.Backwards && p >= req.From) {
				after = append(after, p)
			}
		}
		size := pageCap
		if req.Limit > 0 && req.Limit < size {
			size = req.Limit
		}
		events := []string{}
		for _, p := range after[:min(size, len(after))] {
			events = append(events, fmt.Sprintf(`{"position":%d,"event":{"id":"e%d","eventType":"Tested","actorId":"a-%d","version":1,"data":{}}}`, p, p, p))
		}
		r := nats.NewMsg("")
		r.Data = fmt.Appendf(nil, `{"events":[%s],"hasMore":%t,"head":%d}`, strings.Join(events, ","), len(after) > size, head())
		return r
	})
	return func() []readRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// readFake is a Reader of the stand-in on subject.
func readFake(t *testing.T, c *Client, subject string, query *Query, opts ReadOptions) *Reader {
	r := c.Read(ctxFor(t), query, opts)
	r.subject = subject
	return r
}

func positionsOf(t *testing.T, r *Reader) []uint64 {
	t.Helper()
	var out []uint64
	for e, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		if e.Event.ID != fmt.Sprintf("e%d", e.Position) || len(e.Event.Raw) == 0 {
			t.Fatalf("event %+v at %d", e.Event, e.Position)
		}
		out = append(out, e.Position)
	}
	return out
}

func froms(reqs []readRequest) []uint64 {
	out := make([]uint64, len(reqs))
	for i, r := range reqs {
		out[i] = r.From
	}
	return out
}

func TestReadPaging(t *testing.T) {
	c := newClient(t, WithRetry(RetryPolicy{Attempts: 1}))
	log := fakeLog(23)
	lastHead := func() uint64 { return log[len(log)-1] }
	query := &Query{Items: []QueryItem{{Types: []string{"Tested"}, Tags: []string{"course:c1"}}}}

	t.Run("forwards: each event once, the next page from the last position + 1", func(t *testing.T) {
		subject := "fake." + uid()
		seen := serveLog(t, subject, log, 1000, lastHead)
		r := readFake(t, c, subject, query, ReadOptions{PageSize: 5})
		if got := positionsOf(t, r); !slices.Equal(got, log) {
			t.Fatalf("positions %v", got)
		}
		reqs := seen()
		if got := froms(reqs); !slices.Equal(got, []uint64{0, 15, 30, 45, 60}) {
			t.Fatalf("froms %v", got)
		}
		for _, req := range reqs {
			if req.Limit != 5 || req.Backwards || req.Query == nil || req.Query.Items[0].Tags[0] != "course:c1" {
				t.Fatalf("request %+v", req)
			}
		}
	})

	t.Run("backwards: descending, the next page from the last position - 1", func(t *testing.T) {
		subject := "fake." + uid()
		seen := serveLog(t, subject, log, 1000, lastHead)
		want := slices.Clone(log)
		slices.Reverse(want)
		if got := positionsOf(t, readFake(t, c, subject, nil, ReadOptions{Backwards: true, PageSize: 5})); !slices.Equal(got, want) {
			t.Fatalf("positions %v", got)
		}
		reqs := seen()
		if got := froms(reqs); !slices.Equal(got, []uint64{0, 55, 40, 25, 10}) {
			t.Fatalf("froms %v", got)
		}
		if !reqs[0].Backwards || reqs[0].Query != nil {
			t.Fatalf("request %+v", reqs[0])
		}
	})

	t.Run("pages cut short by the service (what fits in a reply) are followed without a PageSize", func(t *testing.T) {
		subject := "fake." + uid()
		short := fakeLog(10)
		seen := serveLog(t, subject, short, 3, lastHead)
		if got := positionsOf(t, readFake(t, c, subject, nil, ReadOptions{From: 5})); !slices.Equal(got, short[1:]) {
			t.Fatalf("positions %v", got)
		}
		if got := froms(seen()); !slices.Equal(got, []uint64{5, 12, 21}) {
			t.Fatalf("froms %v", got)
		}
	})

	t.Run("Limit: at most that many in all, asking no more than are still wanted", func(t *testing.T) {
		subject := "fake." + uid()
		seen := serveLog(t, subject, log, 1000, lastHead)
		if got := positionsOf(t, readFake(t, c, subject, nil, ReadOptions{Limit: 7, PageSize: 3})); !slices.Equal(got, log[:7]) {
			t.Fatalf("positions %v", got)
		}
		var limits []int
		for _, r := range seen() {
			limits = append(limits, r.Limit)
		}
		if !slices.Equal(limits, []int{3, 3, 1}) {
			t.Fatalf("limits %v", limits)
		}
		latest := "fake." + uid()
		one := serveLog(t, latest, log, 1000, lastHead)
		if got := positionsOf(t, readFake(t, c, latest, nil, ReadOptions{Backwards: true, Limit: 1})); !slices.Equal(got, log[22:]) {
			t.Fatalf("latest %v", got)
		}
		if reqs := one(); len(reqs) != 1 || reqs[0].Limit != 1 {
			t.Fatalf("requests %+v", reqs)
		}
		big := "fake." + uid()
		cut := serveLog(t, big, log, 5, lastHead)
		if got := positionsOf(t, readFake(t, c, big, nil, ReadOptions{Limit: 20000})); !slices.Equal(got, log) {
			t.Fatalf("positions %v", got)
		}
		for _, r := range cut() {
			if r.Limit != 0 {
				t.Fatalf("a limit over one request's maximum was sent: %+v", r)
			}
		}
	})

	t.Run("Head: 0 before a page; forwards the last page's (or the latest event when stopped early), backwards the first page's", func(t *testing.T) {
		var mu sync.Mutex
		next := uint64(100)
		growing := func() uint64 { mu.Lock(); defer mu.Unlock(); next++; return next - 1 }
		subject := "fake." + uid()
		serveLog(t, subject, fakeLog(9), 4, growing)
		r := readFake(t, c, subject, nil, ReadOptions{})
		if r.Head() != 0 {
			t.Fatalf("head before reading: %d", r.Head())
		}
		positionsOf(t, r)
		if r.Head() != 102 {
			t.Fatalf("forwards head %d, want the last page's (102)", r.Head())
		}
		// Stopped before the end, forwards: the latest event returned, not a head above events not read.
		limited := readFake(t, c, subject, nil, ReadOptions{Limit: 5})
		positionsOf(t, limited)
		if want := fakeLog(9)[4]; limited.Head() != want {
			t.Fatalf("forwards head after Limit 5: %d, want the 5th event's position %d", limited.Head(), want)
		}
		broken := readFake(t, c, subject, nil, ReadOptions{})
		for e := range broken.All() {
			if e.Position == fakeLog(9)[1] {
				break
			}
		}
		if want := fakeLog(9)[1]; broken.Head() != want {
			t.Fatalf("forwards head after a break: %d, want %d", broken.Head(), want)
		}
		mu.Lock()
		next = 100
		mu.Unlock()
		back := readFake(t, c, subject, nil, ReadOptions{Backwards: true})
		positionsOf(t, back)
		if back.Head() != 100 {
			t.Fatalf("backwards head %d, want the first page's (100)", back.Head())
		}
	})

	t.Run("a page that says more follow ends backwards at position 1, and an empty one is an error", func(t *testing.T) {
		subject := "fake." + uid()
		calls := fakeResponder(t, subject, func(int, *nats.Msg) *nats.Msg {
			r := nats.NewMsg("")
			r.Data = []byte(`{"events":[{"position":1,"event":{"id":"e1","eventType":"T","actorId":"a-1","version":1,"data":{}}}],"hasMore":true,"head":1}`)
			return r
		})
		if got := positionsOf(t, readFake(t, c, subject, nil, ReadOptions{Backwards: true})); !slices.Equal(got, []uint64{1}) || len(*calls) != 1 {
			t.Fatalf("positions %v after %d requests", got, len(*calls))
		}
		empty := "fake." + uid()
		fakeResponder(t, empty, func(int, *nats.Msg) *nats.Msg {
			r := nats.NewMsg("")
			r.Data = []byte(`{"events":[],"hasMore":true,"head":4}`)
			return r
		})
		var last error
		for _, err := range readFake(t, c, empty, nil, ReadOptions{}).All() {
			last = err
		}
		if !errors.Is(last, ErrInternal) {
			t.Fatalf("%v, want an internal error", last)
		}
	})

	t.Run("a negative Limit is refused before any request", func(t *testing.T) {
		for _, err := range c.Read(ctxFor(t), nil, ReadOptions{Limit: -1}).All() {
			if !errors.Is(err, ErrValidation) {
				t.Fatalf("%v", err)
			}
		}
	})
}

// observe records the requests sent to the service on subject (a plain subscriber gets a copy of
// each; the service answers them).
func observe(t *testing.T, subject string) func() []string {
	t.Helper()
	nc := connect(t, testenv.ServiceUser, testenv.ServicePassword)
	var mu sync.Mutex
	var seen []string
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) { mu.Lock(); seen = append(seen, string(m.Data)); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		_ = nc.Flush()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			out := slices.Clone(seen)
			mu.Unlock()
			if len(out) > 0 || time.Now().After(deadline) {
				return out
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestConditionOnTheWire(t *testing.T) {
	c := newClient(t)
	ctx := ctxFor(t)
	tag := "username:" + uid()
	cond := &Condition{FailIfEventsMatch: Query{Items: []QueryItem{{Tags: []string{tag}}}}, After: 0}
	withAfter := &Condition{FailIfEventsMatch: cond.FailIfEventsMatch, After: 1}

	appends := observe(t, SubjectAppend)
	id := actor("user")
	e := event(id, 1, `{}`)
	e.Tags = []string{tag}
	if _, err := c.Append(ctx, id, []Event{e}, WriteOptions{Condition: cond}); err != nil {
		t.Fatal(err)
	}
	if got, want := appends(), `"condition":{"failIfEventsMatch":{"items":[{"tags":["`+tag+`"]}]}}`; len(got) != 1 || !strings.Contains(got[0], want) || !strings.Contains(got[0], `"tags":["`+tag+`"]`) {
		t.Fatalf("append sent %q, want %s in it", got, want)
	}

	transacts := observe(t, SubjectTransact)
	other := actor("user")
	if _, err := c.Transact(ctx, []ActorEvents{{ActorID: other, Events: []Event{event(other, 1, `{}`)}}}, WriteOptions{Condition: withAfter}); err != nil && !errors.Is(err, ErrConditionFailed) {
		t.Fatal(err)
	}
	if got, want := transacts(), `,"condition":{"failIfEventsMatch":{"items":[{"tags":["`+tag+`"]}]},"after":1}}`; len(got) != 1 || !strings.HasSuffix(got[0], want) {
		t.Fatalf("transact sent %q, want it to end with %s", got, want)
	}

	plain := observe(t, SubjectAppend)
	third := actor("user")
	if _, err := c.Append(ctx, third, []Event{event(third, 1, `{}`)}); err != nil {
		t.Fatal(err)
	}
	if got := plain(); len(got) != 1 || strings.Contains(got[0], "condition") || strings.Contains(got[0], "tags") {
		t.Fatalf("append without a condition sent %q", got)
	}
}

// The service's side: tags kept, read paged, conditions refused with the position. These need the
// service's stores to implement contract v3.
func TestReadAndConditionsAgainstTheService(t *testing.T) {
	c := newClient(t)
	ctx := ctxFor(t)
	id := uid()
	tag := "ledger:" + id
	onTag := &Query{Items: []QueryItem{{Tags: []string{tag}}}}
	account := "account-" + id
	var positions []uint64
	for v := int64(1); v <= 12; v++ {
		other := actor("other")
		noise := event(other, 1, `{}`)
		noise.Tags = []string{"noise:" + id}
		if _, err := c.Append(ctx, other, []Event{noise}); err != nil {
			t.Fatal(err)
		}
		e := event(account, v, `{}`)
		e.Tags = []string{tag, "term:2026"}
		r, err := c.Append(ctx, account, []Event{e})
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, r.Sequences...)
	}

	r := c.Read(ctx, onTag, ReadOptions{PageSize: 5})
	var got []uint64
	for e, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.Event.Tags, []string{tag, "term:2026"}) {
			t.Fatalf("tags %v", e.Event.Tags)
		}
		got = append(got, e.Position)
	}
	if !slices.Equal(got, positions) || r.Head() < positions[len(positions)-1] {
		t.Fatalf("forwards %v (head %d), want %v", got, r.Head(), positions)
	}
	got = got[:0]
	for e, err := range c.Read(ctx, onTag, ReadOptions{Backwards: true, PageSize: 5, From: positions[9]}).All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Position)
	}
	want := slices.Clone(positions[:10])
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("backwards from %d: %v, want %v", positions[9], got, want)
	}

	// A unique username: the first claim is stored, the second refused with the first's position.
	username := "username:" + id
	claim := &Condition{FailIfEventsMatch: Query{Items: []QueryItem{{Tags: []string{username}}}}}
	first, second := actor("user"), actor("user")
	claimed := event(first, 1, `{}`)
	claimed.Tags = []string{username}
	stored, err := c.Append(ctx, first, []Event{claimed}, WriteOptions{Condition: claim})
	if err != nil {
		t.Fatal(err)
	}
	again := event(second, 1, `{}`)
	again.Tags = []string{username}
	_, err = c.Append(ctx, second, []Event{again}, WriteOptions{Condition: claim})
	var failed *ConditionFailedError
	if !errors.As(err, &failed) || failed.Position != stored.Sequences[0] || errors.Is(err, ErrVersionConflict) || Code(err) != 409 {
		t.Fatalf("%v, want *ConditionFailedError at %d", err, stored.Sequences[0])
	}
	// A retry of the stored write is a duplicate, whatever its condition says now.
	if dup, err := c.Append(ctx, first, []Event{claimed}, WriteOptions{Condition: claim}); err != nil || !dup.Duplicate {
		t.Fatalf("retry: %+v, %v", dup, err)
	}
	// Decided on a read: its head as After lets a transaction through.
	seen := c.Read(ctx, &claim.FailIfEventsMatch)
	for _, err := range seen.All() {
		if err != nil {
			t.Fatal(err)
		}
	}
	after := &Condition{FailIfEventsMatch: claim.FailIfEventsMatch, After: seen.Head()}
	released := event(first, 2, `{}`)
	released.EventType, released.Tags = "UsernameReleased", []string{username}
	if _, err := c.Transact(ctx, []ActorEvents{{ActorID: first, Events: []Event{released}}}, WriteOptions{Condition: after}); err != nil {
		t.Fatal(err)
	}
}
