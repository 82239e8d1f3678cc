package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/outcomebill/outcomebill/billing"
)

// InvoiceScheduleID is the ID of a customer's invoice schedule.
func InvoiceScheduleID(customerID string) string { return "invoice-schedule:" + customerID }

// CustomerLister pages through customers.
type CustomerLister interface {
	Customers(ctx context.Context, p billing.Page) ([]billing.Customer, string, error)
}

// Scheduler keeps one Temporal schedule per customer that fires when the customer's billing
// period ends — midnight of its anchor day in its zone — and starts PeriodCloseWorkflow. It
// reconciles from the customers table rather than being told of changes, so a customer created
// or re-anchored while Temporal was down gets its schedule when Temporal is back.
type Scheduler struct {
	Client            client.Client
	Store             CustomerLister
	TaskQueue         string        // default TaskQueue
	Grace             time.Duration // default billing.DefaultGracePeriod
	AutoFinalizeAfter time.Duration // 0: drafts wait for a person
	Interval          time.Duration // between passes; default 1 minute
	Logger            *slog.Logger

	applied map[string]string // customer → spec last applied, so steady passes cost no RPC
}

func (s *Scheduler) defaults() {
	if s.TaskQueue == "" {
		s.TaskQueue = TaskQueue
	}
	if s.Grace <= 0 {
		s.Grace = billing.DefaultGracePeriod
	}
	if s.Interval <= 0 {
		s.Interval = time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.applied == nil {
		s.applied = map[string]string{}
	}
}

// Run reconciles until ctx ends; a failed pass (Temporal down) is retried at the next interval.
func (s *Scheduler) Run(ctx context.Context) error {
	s.defaults()
	for {
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("invoice schedules: reconcile failed, retrying", "error", err, "in", s.Interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.Interval):
		}
	}
}

// Reconcile makes sure every customer has a schedule matching its zone and anchor day.
func (s *Scheduler) Reconcile(ctx context.Context) error {
	s.defaults()
	var errs []error
	page := billing.Page{Limit: billing.MaxPageLimit}
	for {
		customers, next, err := s.Store.Customers(ctx, page)
		if err != nil {
			return fmt.Errorf("list customers: %w", err)
		}
		for _, c := range customers {
			if err := s.ensure(ctx, c); err != nil {
				errs = append(errs, fmt.Errorf("customer %s: %w", c.ID, err))
			}
		}
		if next == "" {
			return errors.Join(errs...)
		}
		page.Cursor = next
	}
}

func (s *Scheduler) spec(c billing.Customer) client.ScheduleSpec {
	return client.ScheduleSpec{
		Calendars: []client.ScheduleCalendarSpec{{
			DayOfMonth: []client.ScheduleRange{{Start: c.AnchorDay}},
			Hour:       []client.ScheduleRange{{Start: 0}},
			Minute:     []client.ScheduleRange{{Start: 0}},
			Second:     []client.ScheduleRange{{Start: 0}},
			Month:      []client.ScheduleRange{{Start: 1, End: 12}},
			Comment:    "the customer's billing period ends",
		}},
		TimeZoneName: c.Timezone,
	}
}

func (s *Scheduler) ensure(ctx context.Context, c billing.Customer) error {
	key := fmt.Sprintf("%s|%d|%s|%s|%s", c.Timezone, c.AnchorDay, s.Grace, s.AutoFinalizeAfter, s.TaskQueue)
	if s.applied[c.ID] == key {
		return nil
	}
	id := InvoiceScheduleID(c.ID)
	action := &client.ScheduleWorkflowAction{
		ID:        "period-close:" + c.ID,
		Workflow:  PeriodCloseWorkflowName,
		TaskQueue: s.TaskQueue,
		Args:      []any{PeriodCloseInput{CustomerID: c.ID, Grace: s.Grace, AutoFinalizeAfter: s.AutoFinalizeAfter, TaskQueue: s.TaskQueue}},
	}
	_, err := s.Client.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: id, Spec: s.spec(c), Action: action,
		Overlap:       enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL, // each fire closes its own period
		CatchupWindow: 7 * 24 * time.Hour,                      // a week's outage still bills the period
		Note:          "invoice runs of customer " + c.ID,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = s.Client.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sched := in.Description.Schedule
				spec := s.spec(c)
				sched.Spec = &spec
				sched.Action = action
				return &client.ScheduleUpdate{Schedule: &sched}, nil
			},
		})
	}
	if err != nil {
		return err
	}
	s.applied[c.ID] = key
	return nil
}
