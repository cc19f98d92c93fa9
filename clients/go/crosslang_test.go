package eventstore

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/nats-eventstore/nats-eventstore/clients/go/internal/testenv"
)

// The TypeScript client's side of the cross-language test: it reads READ_ACTOR's events and
// prints each as JSON.stringify writes it, then saves WRITE_EVENTS and prints what it sent.
const tsScript = `
import { connect } from "@nats-io/transport-node";
import { EventStoreClient } from "./dist/src/index.js";
const nc = await connect({ servers: process.env.NATS_URL, user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD });
try {
  const client = new EventStoreClient(nc);
  const read = [];
  for await (const e of client.events(process.env.READ_ACTOR)) read.push(JSON.stringify(e));
  const sent = [];
  for (const e of JSON.parse(process.env.WRITE_EVENTS)) {
    await client.save(e);
    sent.push(JSON.stringify(e));
  }
  console.log(JSON.stringify({ read, sent }));
} finally {
  await nc.close();
}
`

// Data that JSON.stringify and this client write the same way: no HTML escaping, unicode as
// is, the same escapes, numbers in their shortest form. (Go's own json.Marshal of an Event
// escapes <, > and & as \u003c...; the client sends with the escaping off, as marshal does.)
var crossData = []string{
	`{"total":99.5,"items":[{"sku":"A-1","qty":2}],"note":"<b>Tom & Jerry</b>"}`,
	`{"text":"été ✓ 😀 \"quoted\" back\\slash\nnew line\ttab \u0001","max":9007199254740991,"min":-9007199254740991,"tiny":0.1,"nested":{"deep":{"deeper":[true,false,null]}}}`,
	`{}`,
}

func TestCrossLanguageBytes(t *testing.T) {
	c := newClient(t)
	ctx := ctxFor(t)
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	goActor, tsActor := actor("golang"), actor("typescript")

	// Saved from Go.
	var sentFromGo []Event
	for i, data := range crossData {
		e := event(goActor, int64(i+1), data)
		e.Metadata = map[string]string{"correlationId": "corr-" + uid()}
		if i != 1 {
			e.Timestamp = "2025-03-01T10:00:00.123Z"
		}
		mustSave(t, c, e)
		sentFromGo = append(sentFromGo, e)
	}
	storedGo, err := c.EventList(ctx, goActor)
	if err != nil || len(storedGo) != len(crossData) {
		t.Fatalf("read back from Go: %d events, %v", len(storedGo), err)
	}

	// To be saved from TypeScript (parsed there, so sent as JSON.stringify writes them).
	var forTS []Event
	for i, data := range crossData {
		e := Event{ID: uid(), EventType: "FromTypeScript", ActorID: tsActor, Version: int64(i + 1),
			Data: json.RawMessage(data), Metadata: map[string]string{"causationId": "cause-1"}}
		if i != 2 {
			e.Timestamp = "2025-03-02T11:22:33.456Z"
		}
		forTS = append(forTS, e)
	}
	writeEvents, err := marshal(forTS)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("node", "--input-type=module", "-e", tsScript)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "NATS_URL="+env.URL, "NATS_USER="+testenv.ServiceUser, "NATS_PASSWORD="+testenv.ServicePassword,
		"READ_ACTOR="+goActor, "WRITE_EVENTS="+string(writeEvents))
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("the TypeScript client: %v\n%s%s", err, out, stderr)
	}
	var ts struct{ Read, Sent []string }
	if err := json.Unmarshal(out, &ts); err != nil {
		t.Fatalf("TypeScript output %q: %v", out, err)
	}

	// Go -> TypeScript: the TypeScript client reads what Go sent, byte for byte (and, where the
	// service set the timestamp, what Go reads back).
	if len(ts.Read) != len(sentFromGo) {
		t.Fatalf("TypeScript read %d events, want %d", len(ts.Read), len(sentFromGo))
	}
	for i, e := range sentFromGo {
		want, err := marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Timestamp == "" {
			want = storedGo[i].Raw
		}
		if ts.Read[i] != string(want) {
			t.Errorf("event %d saved from Go, read by TypeScript:\n got %s\nwant %s", i+1, ts.Read[i], want)
		}
		if got, _ := marshal(storedGo[i]); string(got) != string(storedGo[i].Raw) {
			t.Errorf("event %d: Go re-encodes what it read as\n%s\nnot as stored\n%s", i+1, got, storedGo[i].Raw)
		}
	}

	// TypeScript -> Go: Go reads the bytes the TypeScript client sent, and re-encodes them alike.
	storedTS, err := c.EventList(ctx, tsActor)
	if err != nil || len(storedTS) != len(ts.Sent) {
		t.Fatalf("Go read %d events saved from TypeScript, want %d: %v", len(storedTS), len(ts.Sent), err)
	}
	for i, e := range storedTS {
		want := ts.Sent[i]
		if forTS[i].Timestamp == "" {
			// The service adds the timestamp at the end of what was sent.
			want = want[:len(want)-1] + fmt.Sprintf(`,"timestamp":%q}`, e.Timestamp)
		}
		if string(e.Raw) != want {
			t.Errorf("event %d saved from TypeScript, read by Go:\n got %s\nwant %s", i+1, e.Raw, want)
		}
		if got, _ := marshal(e); string(got) != want {
			t.Errorf("event %d saved from TypeScript, re-encoded by Go:\n got %s\nwant %s", i+1, got, want)
		}
	}
}
