package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	eventstore "github.com/nats-eventstore/nats-eventstore/clients/go"
	"github.com/nats-io/nats.go"
)

// The README's example (compiled, not run: it needs a service).
func Example() {
	nc, err := nats.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	store, err := eventstore.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type account struct {
		Balance float64 `json:"balance"`
	}
	apply := func(a account, e eventstore.Event) (account, error) {
		var d struct{ Amount float64 }
		err := json.Unmarshal(e.Data, &d)
		return account{Balance: a.Balance + d.Amount}, err
	}

	loaded, err := eventstore.LoadAs(ctx, store, "account-42", apply, account{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.Save(ctx, eventstore.Event{
		ID:        fmt.Sprintf("deposit-%d", time.Now().UnixNano()), // use a UUID
		EventType: "Deposited",
		ActorID:   "account-42",
		Version:   loaded.Version + 1,
		Data:      json.RawMessage(`{"amount":10}`),
	})
	var conflict *eventstore.VersionConflictError
	if errors.As(err, &conflict) {
		log.Fatalf("someone else wrote version %d first: load again", conflict.CurrentVersion)
	} else if err != nil {
		log.Fatal(err)
	}
	for e, err := range store.Events(ctx, "account-42") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Version, e.EventType, string(e.Data))
	}
}
