package postgres

// The statements by task_id on tasks, for the tests that read their plans.
const (
	TaskStateSQL     = taskStateSQL
	TaskViewSQL      = taskViewSQL
	SaveTaskStateSQL = saveTaskStateSQL
)
