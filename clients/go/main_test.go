package eventstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-eventstore/nats-eventstore/clients/go/internal/testenv"
	"github.com/nats-io/nats.go"
)

// env is one nats-server and two service replicas, shared by this package's tests, which do
// not run in parallel (the retry test freezes the replicas).
var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(2)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// connect opens a connection as the service's user (or another), closed when the test ends.
func connect(t *testing.T, user, password string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(env.URL, nats.UserInfo(user, password), nats.Name(t.Name()))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(connect(t, testenv.ServiceUser, testenv.ServicePassword), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func uid() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// actor is a fresh actor id for one test.
func actor(kind string) string { return kind + "-" + uid() }

func event(actorID string, version int64, data string) Event {
	return Event{ID: uid(), EventType: "Happened", ActorID: actorID, Version: version, Data: json.RawMessage(data)}
}

// endpointMissing says whether the service lacks an endpoint: a request to it finds no
// responders (the service has not implemented that part of the contract yet).
func endpointMissing(t *testing.T, subject string) bool {
	t.Helper()
	nc := connect(t, testenv.ServiceUser, testenv.ServicePassword)
	_, err := nc.Request(subject, []byte("{}"), 5*time.Second)
	return errors.Is(err, nats.ErrNoResponders)
}

func mustSave(t *testing.T, c *Client, e Event) SaveResult {
	t.Helper()
	r, err := c.Save(ctxFor(t), e)
	if err != nil {
		t.Fatalf("save %s v%d: %v", e.ActorID, e.Version, err)
	}
	return r
}
