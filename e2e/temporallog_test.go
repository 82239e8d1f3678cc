package e2e_test

// quietTemporalLogger drops the SDK's logs: tests stop and start Temporal on purpose, and its
// connection warnings would bury the test output.
type quietTemporalLogger struct{}

func (quietTemporalLogger) Debug(string, ...any) {}
func (quietTemporalLogger) Info(string, ...any)  {}
func (quietTemporalLogger) Warn(string, ...any)  {}
func (quietTemporalLogger) Error(string, ...any) {}
