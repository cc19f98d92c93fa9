// Package eventstore is the Go client of nats-eventstore, a NATS-native event store: per-actor
// event streams in JetStream, served by the NATS micro service "eventstore".
//
// A Client calls the service over a *nats.Conn the caller owns:
//
//	nc, _ := nats.Connect(nats.DefaultURL)
//	defer nc.Close()
//	es, _ := eventstore.New(nc)
//	res, err := es.Save(ctx, eventstore.Event{
//		ID: uuid, EventType: "OrderPlaced", ActorID: "order-42", Version: 1,
//		Data: json.RawMessage(`{"total":99.5}`),
//	})
//	var conflict *eventstore.VersionConflictError
//	if errors.As(err, &conflict) { /* conflict.CurrentVersion is the actor's latest */ }
//
// Every method takes a context, which bounds the whole call, retries included. A timeout of one
// attempt, "no responders" or a 503 from the service is retried with exponential backoff,
// sending the very same bytes, so a retry of an event that was stored answers Duplicate rather
// than a conflict. Permission violations (403) and every other refusal are returned at once.
//
// Refusals are typed errors rebuilt from the reply's micro error headers and JSON body, each
// matching one sentinel with errors.Is: *ValidationError (ErrValidation, 400), *PermissionError
// (ErrPermission, 403), ErrNotFound (404), *VersionConflictError (ErrVersionConflict, 409),
// *ConditionFailedError (ErrConditionFailed, 409: a write's Condition failed),
// *ErasedError (ErrErased, 410), ErrInternal (500), *NotSupportedError (ErrNotSupported, 501)
// and ErrUnavailable (503). Code returns an error's wire code.
//
// Package compat adapts the client to the method set of the Go store the service grew from.
package eventstore
