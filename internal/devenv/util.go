package devenv

import (
	"fmt"
	"net"
	"strings"
	"sync"
)

// freePort returns a loopback TCP port that is free now. Like the Temporal
// SDK, it connects to the listener and closes that connection from the server
// side, which leaves the port in TIME_WAIT: Linux won't hand it out again to a
// bind on port 0 for a while, but a server that sets SO_REUSEADDR (postgres
// and Go servers do) can still bind it explicitly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	s.Close()
	return addr.Port, nil
}

// tailBuffer keeps the last max bytes written to it, so a failed start can
// show the end of a server's log.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// withTail formats err with the tail of a server log, if there is one.
func withTail(err error, tail *tailBuffer) error {
	s := tail.String()
	if s == "" {
		return err
	}
	return fmt.Errorf("%w\n--- end of server log ---\n%s", err, s)
}
