// Package testenv runs what the Go client's tests talk to: a real nats-server with JetStream
// (temp store, free port) and real eventstore service processes (node dist/src/main.js).
//
//   - nats-server: $NATS_SERVER_BIN, else <repo>/.nats-server/usr/sbin/nats-server (where
//     scripts/get-nats-server.sh puts one).
//   - the service: <repo>/dist/src/main.js, built by `npm run build` (npm test builds it first),
//     run with the node on PATH.
//
// Every process is killed when the test binary exits, even on a panic or a go test timeout
// (Pdeathsig), and stopped in order by Env.Stop.
package testenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The users of the generated nats-server configuration.
const (
	ServiceUser     = "service"
	ServicePassword = "service-pw"
	// The writer may do everything but erase (the contract's writer role).
	WriterUser     = "writer"
	WriterPassword = "writer-pw"
)

// Root is the repository's root: the nearest folder above the working directory that holds
// package.json.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no package.json above the working directory: run the tests inside the nats-eventstore repository")
		}
		dir = parent
	}
}

// NatsServerBin is the nats-server the tests run.
func NatsServerBin() (string, error) {
	if bin := os.Getenv("NATS_SERVER_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("testenv: NATS_SERVER_BIN=%s: %w", bin, err)
		}
		return bin, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, ".nats-server", "usr", "sbin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("testenv: no nats-server: set NATS_SERVER_BIN to a nats-server >= 2.12, or run scripts/get-nats-server.sh (it puts one in %s)", bin)
	}
	return bin, nil
}

// Process is a child process with its output kept.
type Process struct {
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

// Output is everything the process wrote so far (the last 64 KiB).
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *Process) keep(r io.Reader, line func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		p.mu.Lock()
		if p.out.Len() > 64<<10 {
			rest := p.out.String()[32<<10:]
			p.out.Reset()
			p.out.WriteString(rest)
		}
		p.out.WriteString(text + "\n")
		p.mu.Unlock()
		if line != nil {
			line(text)
		}
	}
}

func start(name string, args []string, env []string, line func(string)) (*Process, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	// Its own process group, and killed with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.keep(stdout, line) }()
	go func() { defer wg.Done(); p.keep(stderr, nil) }()
	go func() { wg.Wait(); _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL after 5 s, and waits.
func (p *Process) Stop() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGCONT)
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Freeze stops the process (SIGSTOP): it keeps its connections but answers nothing.
func (p *Process) Freeze() error { return p.Cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen process (SIGCONT).
func (p *Process) Thaw() error { return p.Cmd.Process.Signal(syscall.SIGCONT) }

// Env is one nats-server and the service replicas on it.
type Env struct {
	URL      string
	Dir      string
	Server   *Process
	Services []*Process
}

// Start runs a nats-server (with JetStream and the two users) and `replicas` service processes,
// waiting for each to log "service started". On an error everything started is stopped.
func Start(replicas int) (env *Env, err error) {
	bin, err := NatsServerBin()
	if err != nil {
		return nil, err
	}
	root, err := Root()
	if err != nil {
		return nil, err
	}
	main := filepath.Join(root, "dist", "src", "main.js")
	if _, err := os.Stat(main); err != nil {
		return nil, fmt.Errorf("testenv: %s is missing: run npm run build (npm test builds it first)", main)
	}
	dir, err := os.MkdirTemp("", "es-go-")
	if err != nil {
		return nil, err
	}
	env = &Env{Dir: dir}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	portsDir := filepath.Join(dir, "ports")
	if err := os.Mkdir(portsDir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "server.conf")
	text := fmt.Sprintf(`host: 127.0.0.1
port: -1
jetstream { store_dir: %q }
authorization {
  users = [
    { user: %q, password: %q }
    { user: %q, password: %q, permissions: { publish: { deny: ["eventstore.erase"] } } }
  ]
}
`, filepath.Join(dir, "js"), ServiceUser, ServicePassword, WriterUser, WriterPassword)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	env.Server, err = start(bin, []string{"-c", conf, "--ports_file_dir", portsDir}, os.Environ(), nil)
	if err != nil {
		return nil, fmt.Errorf("testenv: starting %s: %w", bin, err)
	}
	port, err := waitForPort(env.Server, portsDir)
	if err != nil {
		return nil, err
	}
	env.URL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	for range replicas {
		if _, err := env.StartService(main); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// StartService runs one more replica of the service (main is dist/src/main.js).
func (e *Env) StartService(main string) (*Process, error) {
	started := make(chan struct{})
	var once sync.Once
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"NATS_URL=" + e.URL,
		"NATS_USER=" + ServiceUser,
		"NATS_PASSWORD=" + ServicePassword,
		"LOG_LEVEL=info",
	}
	// The tests run against the JetStream backend unless told otherwise (memory: a quicker check).
	if backend := os.Getenv("EVENTSTORE_BACKEND"); backend != "" {
		env = append(env, "EVENTSTORE_BACKEND="+backend)
	}
	p, err := start("node", []string{main}, env, func(line string) {
		var log struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &log) == nil && log.Msg == "service started" {
			once.Do(func() { close(started) })
		}
	})
	if err != nil {
		return nil, fmt.Errorf("testenv: starting node %s: %w", main, err)
	}
	e.Services = append(e.Services, p)
	select {
	case <-started:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("testenv: the service exited before it started:\n%s", p.Output())
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("testenv: the service did not start within 30 s:\n%s", p.Output())
	}
}

// Stop stops the services, then the server, and deletes the temp directory.
func (e *Env) Stop() {
	if e == nil {
		return
	}
	var wg sync.WaitGroup
	for _, s := range e.Services {
		wg.Add(1)
		go func() { defer wg.Done(); s.Stop() }()
	}
	wg.Wait()
	e.Server.Stop()
	if e.Dir != "" {
		_ = os.RemoveAll(e.Dir)
	}
}

func waitForPort(server *Process, portsDir string) (int, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(portsDir, "*.ports"))
		for _, f := range files {
			var ports struct {
				Nats []string `json:"nats"`
			}
			if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &ports) == nil && len(ports.Nats) > 0 {
				var port int
				if _, err := fmt.Sscanf(ports.Nats[0][strings.LastIndex(ports.Nats[0], ":")+1:], "%d", &port); err == nil {
					return port, nil
				}
			}
		}
		if server.Exited() {
			return 0, fmt.Errorf("testenv: nats-server exited:\n%s", server.Output())
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("testenv: nats-server did not start within 15 s:\n%s", server.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
