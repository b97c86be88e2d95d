package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cloudmarket/termination-orders/internal/ports"
)

// buildWorker builds the production worker binary once into dir.
func buildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "termination-worker")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cloudmarket/termination-orders/cmd/termination-worker").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the worker: %v\n%s", err, out)
	}
	return bin, nil
}

// workerPool runs n worker processes, each restarted when it dies, as a
// process supervisor (systemd, Kubernetes) would: after a SIGKILL from the
// soak, and also after the worker exits on its own (counted as a crash).
type workerPool struct {
	bin          string
	env          []string
	log          *os.File
	restartDelay time.Duration

	mu      sync.Mutex
	procs   []*exec.Cmd
	killed  []bool
	crashes int
	stopped bool
	wg      sync.WaitGroup
}

func startWorkers(bin, dir string, n int, env []string, restartDelay time.Duration) (*workerPool, error) {
	log, err := os.OpenFile(filepath.Join(dir, "workers.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p := &workerPool{bin: bin, env: env, log: log, restartDelay: restartDelay, procs: make([]*exec.Cmd, n), killed: make([]bool, n)}
	for i := range n {
		p.wg.Add(1)
		go p.supervise(i)
	}
	return p, nil
}

func (p *workerPool) supervise(i int) {
	defer p.wg.Done()
	for {
		port, err := ports.Free("127.0.0.1")
		if err != nil {
			port = 0
		}
		cmd := exec.Command(p.bin)
		cmd.Env = append(append(os.Environ(), p.env...),
			"TERMINATION_METRICS_LISTEN_ADDRESS=127.0.0.1:"+strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = p.log, p.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		err = cmd.Start()
		if err == nil {
			p.procs[i], p.killed[i] = cmd, false
		}
		p.mu.Unlock()
		if err == nil {
			_ = cmd.Wait()
		}
		p.mu.Lock()
		stopped := p.stopped
		if !stopped && !p.killed[i] {
			p.crashes++
			fmt.Fprintf(p.log, "soak: worker %d exited on its own (%v); restarting\n", i, cmd.ProcessState)
		}
		p.procs[i] = nil
		p.mu.Unlock()
		if stopped {
			return
		}
		time.Sleep(p.restartDelay)
	}
}

// kill SIGKILLs worker i; its supervisor starts it again. It reports whether
// there was a process to kill.
func (p *workerPool) kill(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := p.procs[i]
	if cmd == nil || p.killed[i] {
		return false
	}
	p.killed[i] = true
	return cmd.Process.Kill() == nil
}

func (p *workerPool) crashCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crashes
}

// stop ends every worker (SIGTERM, then SIGKILL) and their supervisors.
func (p *workerPool) stop() {
	p.mu.Lock()
	p.stopped = true
	for _, c := range p.procs {
		if c != nil {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.mu.Lock()
		for _, c := range p.procs {
			if c != nil {
				_ = c.Process.Kill()
			}
		}
		p.mu.Unlock()
		<-done
	}
	p.log.Close()
}
