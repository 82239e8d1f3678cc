package workflows

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/outcomebill/outcomebill/billing"
)

// memStore is a TaskStore and OutboxStore in memory, with the semantics the interfaces ask of
// the PostgreSQL store.
type memStore struct {
	mu       sync.Mutex
	events   map[string][]billing.TaskEvent // by task id
	states   map[string]billing.TaskState
	saves    []billing.TaskState // every accepted SaveTaskState, in order
	settings map[string]billing.TaskSettings
	calls    map[string]int
	// fail, when set, is asked before each call and may return an error to fail it with.
	fail func(method string, n int) error

	outbox []*outboxRow
	nextID int64
	now    func() time.Time
}

type outboxRow struct {
	item      billing.OutboxItem
	availAt   time.Time
	delivered bool
	lastErr   string
	created   time.Time
}

func newMemStore() *memStore {
	return &memStore{
		events:   map[string][]billing.TaskEvent{},
		states:   map[string]billing.TaskState{},
		settings: map[string]billing.TaskSettings{},
		calls:    map[string]int{},
		now:      time.Now,
	}
}

func (m *memStore) call(method string) error {
	m.calls[method]++
	if m.fail != nil {
		return m.fail(method, m.calls[method])
	}
	return nil
}

// ingest stores events and their outbox rows, as the API does in one transaction.
func (m *memStore) ingest(evs ...billing.TaskEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range evs {
		m.events[e.TaskID] = append(m.events[e.TaskID], e)
		m.nextID++
		m.outbox = append(m.outbox, &outboxRow{item: billing.OutboxItem{ID: m.nextID, Event: e}, created: m.now()})
	}
}

func (m *memStore) LoadTask(ctx context.Context, taskID string) ([]billing.TaskEvent, *billing.TaskState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("LoadTask"); err != nil {
		return nil, nil, err
	}
	evs := slices.Clone(m.events[taskID])
	if s, ok := m.states[taskID]; ok {
		return evs, &s, nil
	}
	return evs, nil, nil
}

func (m *memStore) TaskSettings(ctx context.Context, customerID, outcomeType string) (billing.TaskSettings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("TaskSettings"); err != nil {
		return billing.TaskSettings{}, err
	}
	s, ok := m.settings[outcomeType]
	if !ok {
		return billing.TaskSettings{}, billing.NotFound("outcome type", outcomeType)
	}
	return s, nil
}

func (m *memStore) SaveTaskState(ctx context.Context, s billing.TaskState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("SaveTaskState"); err != nil {
		return err
	}
	if old, ok := m.states[s.TaskID]; ok && old.Version >= s.Version {
		return nil
	}
	m.states[s.TaskID] = s
	m.saves = append(m.saves, s)
	return nil
}

func (m *memStore) savedStatuses() []billing.TaskStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []billing.TaskStatus
	for _, s := range m.saves {
		out = append(out, s.Status)
	}
	return out
}

func (m *memStore) state(taskID string) (billing.TaskState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[taskID]
	return s, ok
}

func (m *memStore) ClaimOutbox(ctx context.Context, limit int, lease time.Duration) ([]billing.OutboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("ClaimOutbox"); err != nil {
		return nil, err
	}
	now := m.now()
	var out []billing.OutboxItem
	for _, r := range m.outbox {
		if len(out) == limit {
			break
		}
		if r.delivered || r.availAt.After(now) {
			continue
		}
		r.availAt = now.Add(lease)
		r.item.Attempts++
		out = append(out, r.item)
	}
	return out, nil
}

func (m *memStore) MarkDelivered(ctx context.Context, ids []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("MarkDelivered"); err != nil {
		return err
	}
	for _, r := range m.outbox {
		if slices.Contains(ids, r.item.ID) {
			r.delivered = true
		}
	}
	return nil
}

func (m *memStore) Release(ctx context.Context, ids []int64, retryAt time.Time, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.call("Release"); err != nil {
		return err
	}
	for _, r := range m.outbox {
		if slices.Contains(ids, r.item.ID) && !r.delivered {
			r.availAt, r.lastErr = retryAt, lastErr
		}
	}
	return nil
}

func (m *memStore) OutboxLag(ctx context.Context) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.outbox {
		if !r.delivered {
			return m.now().Sub(r.created), nil
		}
	}
	return 0, nil
}

func (m *memStore) undelivered() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.outbox {
		if !r.delivered {
			n++
		}
	}
	return n
}

var (
	_ TaskStore   = (*memStore)(nil)
	_ OutboxStore = (*memStore)(nil)
)
